//! `pff run`: tasks flow reader → workers → writer through bounded queues.
//!
//! ```text
//!  tokio (I/O, reader.rs): admit task ─(memory guard, stop flag)─▶ read ≤ io_concurrency at once
//!        │ bounded queue (input_queue)
//!        ▼
//!  workers (worker.rs, plain threads, `plan.workers`): triples + rules, one task each
//!        │ bounded queue (result_queue)
//!        ▼
//!  writer (calling thread): tasks/NNNNNN-<id>.json renamed into place, events.jsonl, progress
//! ```
//!
//! A task whose result file is its task's result is done: `--resume` skips it, and the final
//! `results.csv` and `summary.json` are built from the result files, so an interrupted and
//! resumed execution ends with the same outputs as an uninterrupted one.

use std::fs::{self};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::check::SourceChecker;
use crate::exit;
use crate::hardware::{Plan, current_rss};
use crate::manifest::TaskList;
use crate::rules::{RuleSource, RulesError};
use fixedbitset::FixedBitSet;

mod baseline;
mod control;
mod events;
mod execution;
mod fetch;
mod merge;
mod outputs;
mod reader;
pub mod runs;
mod shard;
mod spec;
pub mod store;
mod worker;

pub use baseline::Baseline;
use control::Control;
pub use control::{Notice, Observer, Shutdown};
use events::{Event, EventLog, StopEvent, TaskEvent};
pub use execution::{Rejected, prepare_merge};
pub use fetch::{FetchLimits, check_header};
pub use merge::{MergeError, MergeTo, check_shards, merge};
pub use outputs::{RunSummary, finalize};
pub use shard::{Shard, fnv1a, rules_digest};
pub use spec::{Checks, ExecutionSpec, SPEC_VERSION, absolute};
pub use store::ledger::{EVENTS_FILE, MANIFEST_COPY, read_marker};
pub use store::{OutputFolder, StoreError, write_atomic};

/// Why a run stopped before its end.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(
        "output folder {0} already holds results of an execution; pass --resume to continue it, \
         --fresh to discard them, or choose another --output (with --dated, each run of the \
         manifest goes into a new dated folder under the output)"
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
    #[error(
        "output folder {path} holds {files}, which pff did not write; move them away or choose \
         another --output (pff never overwrites a file it did not write)"
    )]
    Foreign { path: String, files: String },
    /// The memory guard stopped the run.
    #[error(transparent)]
    Memory(#[from] reader::MemoryStop),
    #[error("cannot set up HTTP")]
    Http(#[source] reqwest::Error),
    #[error("the rules do not fit in a batch and were not filed on disk")]
    NotFiled,
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
    #[error("baseline {path} {reason}")]
    Baseline { path: String, reason: String },
    /// The output folder (its lock, ledger, task files).
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Merge(#[from] MergeError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    /// The tasks file could not be read again as it was.
    #[error(transparent)]
    Tasks(#[from] crate::manifest::TasksError),
}

impl RunError {
    /// What `events.jsonl`'s stop line says ended the run.
    fn reason(&self) -> &'static str {
        match self {
            RunError::Memory(_) => "memory",
            RunError::Http(_) => "http",
            RunError::Rules(_) => "rules",
            RunError::Tasks(_) => "tasks",
            RunError::Internal(_) => "internal",
            RunError::Interrupted => "signal",
            _ => "output",
        }
    }
}

fn out_err(path: &Path) -> impl FnOnce(io::Error) -> RunError + '_ {
    move |source| store::write_err(path)(source).into()
}

/// What one process running an execution needs besides its [`ExecutionSpec`]: the machine's
/// plan, the folder it writes, how it starts, and what must never be recorded (fetch headers
/// may hold secrets).
pub struct Local {
    /// Workers, queues and the memory budget on this machine.
    pub plan: Plan,
    /// The folder this run writes (a dated run's own folder).
    pub output: PathBuf,
    /// Continue the execution recorded in the folder.
    pub resume: bool,
    /// Discard an earlier execution's results in the output folder and start afresh.
    pub fresh: bool,
    /// No progress bar.
    pub quiet: bool,
    /// How `http(s)` sources are fetched.
    pub fetch: FetchLimits,
    /// An earlier execution's folder: findings are marked new or known against it.
    pub baseline: Option<PathBuf>,
    /// The command line that started the run, written in the output folder's lock.
    pub command: String,
    /// Hears the run's notices ([`Observer`]).
    pub observer: Arc<dyn Observer>,
    /// Asks the run to stop (the command line forwards SIGINT and SIGTERM to it).
    pub shutdown: Shutdown,
}

/// An execution to run: its settings, its tasks and the manifest text they came from, and
/// this process's side of it.
pub struct Job<'a> {
    /// Every setting, as `execution.json` records it.
    pub spec: &'a ExecutionSpec,
    /// The tasks (inline, or a tasks file read again on every pass).
    pub tasks: &'a TaskList,
    /// The manifest's text, copied into the folder for `pff merge`.
    pub manifest_text: &'a str,
    /// This process's side.
    pub local: &'a Local,
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
    /// Task files found that were not their task's result, moved aside.
    pub rejected: Vec<Rejected>,
}

/// Runs an execution's tasks against `rules`: the folder is locked and prepared (resume,
/// `--fresh`), the pending tasks flow through the stages, and the final outputs are rebuilt
/// from the task files.
pub fn run(rules: &RuleSource, job: &Job<'_>) -> Result<RunOutcome, RunError> {
    let (spec, local) = (job.spec, job.local);
    let (folder, prepared, mut baseline) = prepare(job)?;
    let log = EventLog::open(&folder.path().join(EVENTS_FILE)).map_err(out_err(folder.path()))?;
    // The stop request is watched from here on, before anything is logged as started.
    let control = Arc::new(Control::new(local.observer.clone()));
    let runtime = reader::start_runtime(&local.plan, &control, &local.shutdown)?;
    announce(rules, job, &prepared, baseline.as_ref(), &log);
    let progress = progress_bar(local.quiet, prepared.selected, prepared.pending_count());
    let checker = SourceChecker::new(rules, spec.checks.options()).ok_or(RunError::NotFiled)?;
    let stages = Stages {
        job,
        checker: &checker,
        tasks_dir: folder.tasks(),
        control: &control,
        log: &log,
        progress: &progress,
    };
    let max_in_flight = stages.run(&prepared.pending, &runtime);
    let bounds = (max_in_flight, checker.max_chunks());
    let finished = finish(
        rules,
        job,
        &control,
        &log,
        &progress,
        (prepared.marker, baseline.as_mut()),
    );
    progress.finish_and_clear();
    runtime.shutdown_timeout(Duration::from_millis(100));
    conclude(finished?, &control, &log, bounds, prepared.rejected)
}

/// The run's folder locked and prepared (a baseline that is the folder itself refused first;
/// resume or `--fresh` applied; the task files checked), and the baseline read before any
/// work (one from other rules is refused at once).
fn prepare(
    job: &Job<'_>,
) -> Result<(OutputFolder, execution::Prepared, Option<Baseline>), RunError> {
    let (spec, local) = (job.spec, job.local);
    if let Some(dir) = &local.baseline {
        Baseline::refuse_self(dir, &local.output)?;
    }
    let folder = OutputFolder::lock(&local.output, &local.command)?;
    let request = execution::RunRequest {
        info: spec,
        manifest_text: job.manifest_text,
        tasks: job.tasks,
        resume: local.resume,
        fresh: local.fresh,
    };
    let prepared = execution::prepare_run(&folder, &request)?;
    let baseline = local
        .baseline
        .as_deref()
        .map(|dir| Baseline::load(dir, spec))
        .transpose()?;
    Ok((folder, prepared, baseline))
}

/// Tells the observer and the log what preparing the folder and the baseline found, then
/// logs the start.
fn announce(
    rules: &RuleSource,
    job: &Job<'_>,
    prepared: &execution::Prepared,
    baseline: Option<&Baseline>,
    log: &EventLog,
) {
    let observer = &*job.local.observer;
    report_rejected(&prepared.rejected, log, observer);
    if let Some(b) = baseline {
        report_skipped(b, log, observer);
    }
    log.log(&start_event(rules, job, prepared));
}

/// After the stages: the failure that ended the run (logged), else the final outputs (or
/// why they were not written: a signal while writing them).
fn finish(
    rules: &RuleSource,
    job: &Job<'_>,
    control: &Control,
    log: &EventLog,
    progress: &ProgressBar,
    (mut marker, baseline): (store::Marker, Option<&mut Baseline>),
) -> Result<Result<RunSummary, RunError>, RunError> {
    if let Some(e) = control.take_failure() {
        let message = e.to_string();
        log.log(&Event::Stop(StopEvent {
            reason: e.reason(),
            message: Some(&message),
            ..StopEvent::default()
        }));
        return Err(e);
    }
    // The final outputs read every task file again: say so (over 40,000 tasks it takes seconds).
    progress.set_message("writing the final outputs (results.csv, summary, reports)");
    control.interrupt.store(false, Ordering::SeqCst);
    let fin = outputs::Finish {
        marker: &mut marker,
        stop: &control.interrupt,
        baseline,
    };
    Ok(finalize(rules, job.tasks, fin))
}

/// Tells of the task files that were moved aside, to the observer and in the log.
fn report_rejected(rejected: &[Rejected], log: &EventLog, observer: &dyn Observer) {
    for Rejected {
        file,
        why,
        moved_to,
    } in rejected
    {
        observer.notice(Notice::TaskFileRejected {
            file,
            why,
            moved_to,
        });
        log.log(&Event::TaskFileRejected {
            file,
            why,
            moved_to,
        });
    }
}

/// Tells of the baseline's task files that could not be read (their findings count as new),
/// to the observer and in the log.
fn report_skipped(b: &Baseline, log: &EventLog, observer: &dyn Observer) {
    for (file, why) in b.skipped() {
        observer.notice(Notice::BaselineFileSkipped { file, why });
        log.log(&Event::BaselineFileSkipped { file, why });
    }
}

fn start_event<'a>(rules: &RuleSource, job: &Job<'_>, prepared: &execution::Prepared) -> Event<'a> {
    let (spec, plan) = (job.spec, &job.local.plan);
    Event::Start {
        tasks: prepared.selected,
        pending: prepared.pending_count(),
        resume: job.local.resume,
        retried: prepared.retried,
        rejected: prepared.rejected.len(),
        shard: spec.shard,
        workers: plan.workers,
        memory_budget: plan.memory_budget,
        rules: rules.len(),
        rules_in_memory: rules.in_memory(),
        rule_batch: rules.batch_size(),
        rule_anchors: rules.store().map_or(0, |s| s.anchors()),
    }
}

/// A progress bar on a terminal, hidden elsewhere or when quiet.
fn progress_bar(quiet: bool, tasks: usize, pending: usize) -> ProgressBar {
    if quiet || !io::IsTerminal::is_terminal(&io::stderr()) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(tasks as u64), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} tasks  {per_sec}  ETA {eta}  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_position((tasks - pending) as u64);
    pb
}

/// The stop line and the exit code of a run whose tasks ended (`finished`: the final
/// outputs, or why they were not written).
fn conclude(
    finished: Result<RunSummary, RunError>,
    control: &Control,
    log: &EventLog,
    (max_in_flight, max_rule_batches): (usize, usize),
    rejected: Vec<Rejected>,
) -> Result<RunOutcome, RunError> {
    let sig = control.signal.load(Ordering::SeqCst);
    let summary = match finished {
        Ok(s) => Some(s),
        Err(RunError::Interrupted) if sig != 0 => None,
        Err(e) => return Err(e),
    };
    log.log(&Event::Stop(StopEvent {
        reason: if sig != 0 { "signal" } else { "done" },
        signal: (sig != 0).then_some(sig),
        max_in_flight: Some(max_in_flight),
        max_rule_batches: Some(max_rule_batches),
        final_outputs: (sig != 0).then_some(summary.is_some()),
        ..StopEvent::default()
    }));
    let code = match (&summary, sig) {
        (Some(s), 0) => s.exit_code(),
        _ => exit::code(exit::Ending {
            signal: (sig != 0).then_some(sig),
            ..exit::Ending::default()
        }),
    };
    Ok(RunOutcome {
        summary,
        code,
        max_in_flight,
        max_rule_batches,
        rejected,
    })
}

/// The reader, the workers and the writer of a run, over one set of shared state.
struct Stages<'a> {
    job: &'a Job<'a>,
    checker: &'a SourceChecker<'a>,
    tasks_dir: &'a Path,
    control: &'a Arc<Control>,
    log: &'a EventLog,
    progress: &'a ProgressBar,
}

impl Stages<'_> {
    /// Runs the pending tasks through the stages; the most tasks in flight at any time. A
    /// stage that cannot start or that panics fails the run through `control`.
    fn run(&self, pending: &FixedBitSet, runtime: &tokio::runtime::Runtime) -> usize {
        let (spec, plan) = (self.job.spec, &self.job.local.plan);
        let (in_tx, in_rx) = tokio::sync::mpsc::channel(plan.input_queue.max(1));
        let in_rx = Mutex::new(in_rx);
        let (res_tx, res_rx) = mpsc::sync_channel(plan.result_queue.max(1));
        let mapping = spec.mapping();
        let shared = worker::Shared {
            checker: self.checker.get(),
            mapping: &mapping,
            execution: &spec.execution_id,
            rules_digest: &spec.rules_digest,
            tasks_dir: self.tasks_dir,
            control: self.control,
            machine: plan.machine,
        };
        // The tasks file (if any) is read again here, line by line, as the reader admits;
        // only the pending tasks' sources are looked for.
        let wanted = |i: usize| pending.contains(i);
        let tasks = match self.job.tasks.iter_where(&wanted) {
            Ok(t) => t,
            Err(e) => {
                self.control.fail(e.into());
                return 0;
            }
        };
        let pending = tasks.map(|t| t.map(|(i, t)| (i, t.into_owned())));
        std::thread::scope(|scope| {
            let (plan, limits, log, control) = (
                plan,
                self.job.local.fetch.clone(),
                self.log.clone(),
                self.control.clone(),
            );
            let read = move || {
                let _guard = control::PanicGuard {
                    control: &control,
                    what: "the reader",
                };
                runtime.block_on(reader::read_all(
                    pending,
                    plan,
                    limits,
                    log,
                    in_tx,
                    control.clone(),
                ));
            };
            let mut handles = vec![spawn(scope, "pff-reader".into(), read, self.control)];
            for n in 0..plan.workers {
                let (shared, in_rx, tx) = (&shared, &in_rx, res_tx.clone());
                let work = move || worker::work(shared, in_rx, tx);
                match spawn(scope, format!("pff-worker-{n}"), work, self.control) {
                    Some(h) => handles.push(Some(h)),
                    // Fewer workers than planned still finish; none cannot: close the queue.
                    None if n == 0 => in_rx.lock().unwrap_or_else(|p| p.into_inner()).close(),
                    None => break,
                }
            }
            drop(res_tx);
            let max_in_flight = self.write_results(res_rx);
            for h in handles.into_iter().flatten() {
                if let Err(p) = h.join() {
                    let message = control::panic_message(p.as_ref());
                    self.control
                        .fail(RunError::Internal(format!("a stage panicked: {message}")));
                }
            }
            max_in_flight
        })
    }

    /// The writer: renames each checked task's file into place as soon as it exists, logs it,
    /// moves the progress bar. Returns the most tasks in flight seen.
    fn write_results(&self, results: mpsc::Receiver<worker::Output>) -> usize {
        let mut max_in_flight = 0;
        // This run's findings and failures so far, for the progress line.
        let (mut found, mut failed) = (crate::report::SeverityCounts::default(), 0usize);
        for (i, task, written, counted) in results {
            let control = self.control;
            max_in_flight = max_in_flight.max(control.in_flight.load(Ordering::SeqCst));
            let path = store::TaskRef {
                index: i,
                key: &task.id,
            }
            .path(self.tasks_dir);
            // The worker wrote and synced the file; the rename makes it the task's result.
            let placed = written.and_then(|(tmp, lite)| fs::rename(&tmp, &path).map(|()| lite));
            drop(counted);
            let lite = match placed {
                Ok(lite) => lite,
                Err(e) => {
                    control.fail(out_err(&path)(e));
                    continue;
                }
            };
            let event = TaskEvent {
                task: &task.id,
                findings: lite.findings,
                error: lite.error.as_deref(),
                retryable: lite.retryable,
            };
            self.log.log(&if lite.failed {
                Event::TaskFailed(event)
            } else {
                Event::TaskDone(event)
            });
            found.merge(&lite.findings);
            failed += usize::from(lite.failed);
            self.progress.inc(1);
            self.progress.set_message(format!(
                "{} error, {} warning findings, {failed} failed  RSS {} MB",
                found.error,
                found.warning,
                current_rss() >> 20
            ));
        }
        max_in_flight
    }
}

/// Starts a named thread in `scope`; a refusal (memory or process limits) fails the run.
fn spawn<'scope, 'env, T: Send + 'scope>(
    scope: &'scope std::thread::Scope<'scope, 'env>,
    name: String,
    f: impl FnOnce() -> T + Send + 'scope,
    control: &Control,
) -> Option<std::thread::ScopedJoinHandle<'scope, T>> {
    match std::thread::Builder::new()
        .name(name)
        .spawn_scoped(scope, f)
    {
        Ok(h) => Some(h),
        Err(source) => {
            control.fail(RunError::Resources {
                what: "the run's threads",
                source,
            });
            None
        }
    }
}
