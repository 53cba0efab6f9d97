//! The CPU side of a run: worker threads take read tasks from the queue, check their
//! records, and stream each task's result file to a temporary name for the writer.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::SyncSender;

use super::RunError;
use super::control::{Control, InFlight, panic_message};
use super::reader::{ReadResult, ReadTask};
use super::store::folder;
use super::store::taskfile::{TASK_FORMAT, TaskHead, TaskRef, TaskTail};
use crate::check::RecordChecker;
use crate::manifest::Task;
use crate::report::{RecordReport, SeverityCounts};
use crate::rules::RulesError;
use crate::stats::RuleStats;
use crate::triples::Mapping;
use crate::triples::{Format, RecordName, input};

/// What the writer needs of a checked task besides its file.
pub struct Checked {
    pub failed: bool,
    pub error: Option<String>,
    pub retryable: bool,
    pub findings: SeverityCounts,
}

/// A checked task: its manifest position, the task, and its result file under a temporary
/// name (the writer renames it into place) or why it could not be written.
pub type Output = (usize, Task, io::Result<(PathBuf, Checked)>, InFlight);

/// What every worker shares.
pub struct Shared<'a> {
    pub checker: &'a dyn RecordChecker,
    pub mapping: &'a Mapping,
    /// The execution id and the rules' digest, written into every task file.
    pub execution: &'a str,
    pub rules_digest: &'a str,
    pub tasks_dir: &'a Path,
    pub control: &'a Control,
    /// For the memory a task may take ([`crate::hardware::memory_room`]).
    pub machine: crate::hardware::Machine,
}

/// One worker: checks tasks until the queue closes. A task whose rules cannot be read back,
/// or whose check panics (a bug), fails the run; the task stays pending for `--resume`.
pub fn work(
    shared: &Shared<'_>,
    queue: &Mutex<tokio::sync::mpsc::Receiver<ReadTask>>,
    results: SyncSender<Output>,
) {
    loop {
        let next = queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .blocking_recv();
        let Some((i, task, bytes, counted)) = next else {
            break;
        };
        let tmp = folder::temp_path(
            &TaskRef {
                index: i,
                key: &task.id,
            }
            .path(shared.tasks_dir),
        );
        let checked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            check_task(shared, i, &task, bytes, &tmp)
        }));
        let out = match checked {
            Ok(Ok(lite)) => Ok((tmp, lite)),
            Ok(Err(TaskError::Write(e))) => Err(e),
            Ok(Err(TaskError::Rules(e))) => {
                // The rules could not be read back: no task can be checked.
                shared.control.fail(RunError::Rules(e));
                let _ = fs::remove_file(&tmp);
                continue;
            }
            Err(panic) => {
                shared.control.fail(RunError::Internal(format!(
                    "checking task `{}` panicked: {}",
                    task.id,
                    panic_message(panic.as_ref())
                )));
                let _ = fs::remove_file(&tmp);
                continue;
            }
        };
        if results.send((i, task, out, counted)).is_err() {
            break;
        }
    }
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

/// How streaming a task's records stopped: its source is unreadable (the task fails), or
/// writing or the rules failed (the run's error).
enum Streamed {
    Data(crate::triples::DataError),
    Task(TaskError),
}

impl From<crate::triples::DataError> for Streamed {
    fn from(e: crate::triples::DataError) -> Self {
        Streamed::Data(e)
    }
}

impl<E: Into<TaskError>> From<E> for Streamed {
    fn from(e: E) -> Self {
        Streamed::Task(e.into())
    }
}

/// Checks one task and writes its result file under the temporary name `tmp`: records are
/// written as they are checked, each record's findings one at a time, so a task with
/// thousands of findings is never held whole. The file is one JSON object: the [`TaskHead`],
/// `records` (the record reports), then the [`TaskTail`].
fn check_task(
    shared: &Shared<'_>,
    index: usize,
    task: &Task,
    bytes: ReadResult,
    tmp: &Path,
) -> Result<Checked, TaskError> {
    // Fault injection for the tests of panic handling (debug builds only).
    #[cfg(debug_assertions)]
    if std::env::var("PFF_DEBUG_PANIC_TASK").is_ok_and(|t| t == task.id) {
        panic!("PFF_DEBUG_PANIC_TASK={}", task.id);
    }
    let checker = shared.checker;
    let label = task.source.to_string();
    let (header, total, opts) = (checker.header(), checker.total(), checker.options());
    let mut w = io::BufWriter::with_capacity(1 << 16, folder::create_new(tmp)?);
    let head = TaskHead {
        pff_task: TASK_FORMAT,
        execution: shared.execution,
        rules_digest: shared.rules_digest,
        index,
        task: &task.id,
        sequence: &task.sequence,
        source: &label,
        payload: task.payload.as_ref(),
    };
    w.write_all(&head.open_object()?)?;
    w.write_all(b",\"records\":[")?;
    let mut tail = TaskTail::default();
    let mut stats = RuleStats::new(total);
    // Records are read, mapped, checked and written one at a time: a task holds its source
    // and one record's triples, never every record's at once.
    let read = bytes
        .map_err(|e| {
            tail.retryable = e.retryable;
            e.message
        })
        .and_then(|b| {
            let format =
                input::format_of(&label, None, Some(Format::Json)).map_err(|e| e.to_string())?;
            // The per-task bound: a source that would take more memory than is left fails
            // alone (retryable: memory may be freed), before it is parsed.
            let need = b.len() as u64 * crate::hardware::task_memory_factor(format);
            let (room, bound) = crate::hardware::memory_room(&shared.machine);
            if need > room {
                tail.retryable = true;
                return Err(format!(
                    "checking this {} MB source needs up to {} MB, more than the {} MB left \
                     under {bound}; give pff more memory, or split the source (JSON Lines \
                     take the least)",
                    b.len() >> 20,
                    need >> 20,
                    room >> 20
                ));
            }
            Ok((b, format))
        });
    match read {
        Err(e) => tail.error = Some(e),
        Ok((b, format)) => {
            let mut n = 0usize;
            let symbols = &header.symbols;
            let streamed = input::read_records(&b[..], format, &label, symbols, 1, |raw| {
                for rec in raw {
                    if n > 0 {
                        w.write_all(b",")?;
                    }
                    n += 1;
                    let id = rec.id;
                    match rec.triples(symbols, shared.mapping, &label) {
                        Err(e) => {
                            // A record that failed inside a multi-record file fails the task.
                            let e = e.to_string();
                            let mut failed = RecordReport::failed(id, e.clone());
                            failed.task = Some(task.id.clone());
                            json(&mut w, &failed)?;
                            tail.add_record(&failed);
                            tail.error.get_or_insert(e);
                        }
                        Ok((b, name)) => {
                            let g = b.finish();
                            let record = RecordName { id, name };
                            let (mut report, kept, tallies) =
                                checker.check(&g)?.into_parts(total, opts, &g, record);
                            report.task = Some(task.id.clone());
                            tail.add_record(&report);
                            stats.add(&tallies);
                            report.write_json_with(&mut w, kept.iter(&g, header, opts))?;
                        }
                    }
                }
                Ok(())
            });
            match streamed {
                Ok(()) => {}
                // The source as a whole is unreadable (a JSON document that does not parse).
                Err(Streamed::Data(e)) => {
                    tail.error.get_or_insert(e.to_string());
                }
                Err(Streamed::Task(e)) => return Err(e),
            }
        }
    }
    tail.status = if tail.error.is_some() { "failed" } else { "ok" };
    tail.retryable &= tail.error.is_some();
    tail.rule_counts = stats.rule_counts();
    w.write_all(b"]")?;
    w.write_all(&tail.close_object()?)?;
    // No fsync per task: a kill loses nothing written (the page cache survives it), and a
    // file torn by a power loss is caught when the execution is resumed (`taskfile::check`
    // refuses a task file that does not parse whole) and its task runs again. Final outputs
    // are synced (`write_atomic`).
    w.into_inner().map_err(io::IntoInnerError::into_error)?;
    Ok(Checked {
        failed: tail.error.is_some(),
        retryable: tail.retryable,
        error: tail.error,
        findings: tail.findings,
    })
}

fn json(w: &mut impl Write, v: &impl serde::Serialize) -> io::Result<()> {
    serde_json::to_writer(w, v).map_err(io::Error::from)
}
