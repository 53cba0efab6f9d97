//! The CPU side of a run: worker threads take read tasks from the queue, check their
//! records, and stream each task's result file to a temporary name for the writer.

use std::cell::RefCell;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::mpsc::SyncSender;

use super::RunError;
use super::control::{Control, InFlight, panic_message};
use super::reader::{ReadResult, ReadTask};
use super::store::folder;
use super::store::taskfile::{Status, TASK_FORMAT, TaskFile, TaskRef, TaskTail};
use serde::ser::{Error as _, SerializeSeq};
use serde::{Serialize, Serializer};

use crate::check::rows::{RowOutcome, each_row};
use crate::check::{KeptFindings, RecordChecker, Tally};
use crate::manifest::Task;
use crate::report::{RecordReport, SeverityCounts};
use crate::rules::RulesError;
use crate::stats::RuleStats;
use crate::triples::Mapping;
use crate::triples::one_graph;
use crate::triples::{Format, Graph, RecordId, RecordName, input};

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

/// Checks one task and writes its result file under the temporary name `tmp`: one
/// [`TaskFile`] whose records are checked and written one at a time as the file is serialised
/// (each record's findings one at a time too), so a task with thousands of findings is never
/// held whole; its [`TaskTail`], counted on the way, follows them.
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
    let label = task.source.to_string();
    let tail = RefCell::new(TaskTail::default());
    let source = admit(shared, bytes, &label, &mut tail.borrow_mut());
    let records = Records {
        shared,
        task,
        label: &label,
        source,
        tail: &tail,
        stopped: RefCell::new(None),
    };
    let file = TaskFile {
        pff_task: TASK_FORMAT,
        execution: shared.execution.to_string(),
        rules_digest: shared.rules_digest.to_string(),
        index,
        task: task.id.clone(),
        sequence: task.sequence.clone(),
        source: label.clone(),
        payload: task.payload.clone(),
        records: &records,
        tail: Counted(&tail),
    };
    let mut w = io::BufWriter::with_capacity(1 << 16, folder::create_new(tmp)?);
    let written = serde_json::to_writer(&mut w, &file);
    if let Some(e) = records.stopped.take() {
        return Err(e);
    }
    written.map_err(io::Error::from)?;
    w.write_all(b"\n")?;
    // No fsync per task: a kill loses nothing written (the page cache survives it), and a
    // file torn by a power loss is caught when the execution is resumed (`taskfile::check`
    // refuses a task file that does not parse whole) and its task runs again. Final outputs
    // are synced (`write_atomic`).
    w.into_inner().map_err(io::IntoInnerError::into_error)?;
    let tail = tail.into_inner();
    Ok(Checked {
        failed: tail.error.is_some(),
        retryable: tail.retryable,
        error: tail.error,
        findings: tail.findings,
    })
}

/// The task's source and its format when it may be checked: read, of a known format, and
/// within the memory left (a source that would take more fails alone, retryable: memory may
/// be freed, before it is parsed). Else why not, in `tail`.
fn admit(
    shared: &Shared<'_>,
    bytes: ReadResult,
    label: &str,
    tail: &mut TaskTail,
) -> Option<(Vec<u8>, Format)> {
    let b = match bytes {
        Ok(b) => b,
        Err(e) => {
            tail.retryable = e.retryable;
            tail.error = Some(e.message);
            return None;
        }
    };
    let format = match input::format_of(label, None, Some(Format::Json)) {
        Ok(f) => f,
        Err(e) => {
            tail.error = Some(e.to_string());
            return None;
        }
    };
    // A file checked as one graph holds every record's triples, as a triples file does.
    let factor = crate::hardware::task_memory_factor(format, shared.mapping.one_graph);
    let need = b.len() as u64 * factor;
    let (room, bound) = crate::hardware::memory_room(&shared.machine);
    if need > room {
        tail.retryable = true;
        tail.error = Some(format!(
            "checking this {} MB source needs up to {} MB, more than the {} MB left under \
             {bound}; give pff more memory, or split the source (JSON Lines take the least)",
            b.len() >> 20,
            need >> 20,
            room >> 20
        ));
        return None;
    }
    Some((b, format))
}

/// A task's records as its file's `records`: read, mapped, checked and serialised one at a
/// time when the file is (a task holds its source and one record's triples, never every
/// record's at once), counted into `tail`. Why the rules or the file stopped it is kept in
/// `stopped` (the serialiser only carries a message).
struct Records<'s, 'a> {
    shared: &'s Shared<'a>,
    task: &'s Task,
    label: &'s str,
    source: Option<(Vec<u8>, Format)>,
    tail: &'s RefCell<TaskTail>,
    stopped: RefCell<Option<TaskError>>,
}

/// The tail as counted while the records were written (they come first in the file).
struct Counted<'s>(&'s RefCell<TaskTail>);

impl Serialize for Counted<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.borrow().serialize(s)
    }
}

impl Serialize for &Records<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        let mut stats = RuleStats::new(self.shared.checker.total());
        if let Some((b, format)) = &self.source {
            let symbols = &self.shared.checker.header().symbols;
            let streamed = if one_graph::applies(self.shared.mapping, *format) {
                self.one_graph(&b[..], *format, &mut stats, &mut seq)
            } else {
                input::read_records(&b[..], *format, self.label, symbols, 1, |raw| {
                    for rec in raw {
                        self.record(rec, &mut stats, &mut seq)?;
                    }
                    Ok(())
                })
            };
            match streamed {
                Ok(()) => {}
                // The source as a whole is unreadable (a JSON document that does not parse).
                Err(Stop::Data(e)) => {
                    self.tail.borrow_mut().error.get_or_insert(e.to_string());
                }
                Err(Stop::Task(e)) => {
                    *self.stopped.borrow_mut() = Some(e);
                    return Err(S::Error::custom("the task's check stopped"));
                }
                Err(Stop::Write(e)) => return Err(e),
            }
        }
        let mut tail = self.tail.borrow_mut();
        tail.status = match tail.error {
            Some(_) => Status::Failed,
            None => Status::Ok,
        };
        tail.retryable &= tail.error.is_some();
        tail.rule_counts = stats.rule_counts();
        seq.end()
    }
}

impl Records<'_, '_> {
    /// Maps, checks and writes one record; one that cannot be mapped fails the task (its
    /// report says why).
    fn record<Q: SerializeSeq>(
        &self,
        rec: crate::triples::input::RawRecord<'_, '_>,
        stats: &mut RuleStats,
        seq: &mut Q,
    ) -> Result<(), Stop<Q::Error>> {
        let checker = self.shared.checker;
        let (header, total, opts) = (checker.header(), checker.total(), checker.options());
        let id = rec.id;
        match rec.triples(&header.symbols, self.shared.mapping, self.label) {
            Err(e) => self.failed(id, e.to_string(), seq)?,
            Ok((b, name)) => {
                let g = b.finish();
                let record = RecordName { id, name };
                let (report, kept, tallies) =
                    checker.check(&g)?.into_parts(total, opts, &g, record);
                self.write(report, &kept, &g, &tallies, stats, seq)?;
            }
        }
        Ok(())
    }

    /// A record that cannot be checked: its report says why, and the task fails.
    fn failed<Q: SerializeSeq>(
        &self,
        id: RecordId,
        e: String,
        seq: &mut Q,
    ) -> Result<(), Stop<Q::Error>> {
        let mut failed = RecordReport::failed(id, e.clone());
        failed.task = Some(self.task.id.clone());
        seq.serialize_element(&failed).map_err(Stop::Write)?;
        let mut tail = self.tail.borrow_mut();
        tail.add_record(&failed);
        tail.error.get_or_insert(e);
        Ok(())
    }

    /// Counts and writes one checked record, its findings streamed.
    fn write<Q: SerializeSeq>(
        &self,
        mut report: RecordReport,
        kept: &KeptFindings,
        g: &Graph<'_>,
        tallies: &[Tally],
        stats: &mut RuleStats,
        seq: &mut Q,
    ) -> Result<(), Stop<Q::Error>> {
        let checker = self.shared.checker;
        report.task = Some(self.task.id.clone());
        self.tail.borrow_mut().add_record(&report);
        stats.add(tallies);
        let streamed = report.streaming(kept.iter(g, checker.header(), checker.options()));
        seq.serialize_element(&streamed).map_err(Stop::Write)
    }

    /// The task's source read as one graph (`one_graph`), its records checked together, each
    /// written with its own findings ([`crate::triples::one_graph`]).
    fn one_graph<Q: SerializeSeq>(
        &self,
        bytes: &[u8],
        format: Format,
        stats: &mut RuleStats,
        seq: &mut Q,
    ) -> Result<(), Stop<Q::Error>> {
        let checker = self.shared.checker;
        let (header, total, opts) = (checker.header(), checker.total(), checker.options());
        let one = one_graph::read(
            bytes,
            format,
            self.label,
            &header.symbols,
            self.shared.mapping,
        )?;
        each_row(checker, one, |g, row| match row {
            RowOutcome::Failed(id, error) => self.failed(id, error.to_string(), seq),
            RowOutcome::Checked(record, triples, c) => {
                let (mut report, kept, tallies) = c.into_parts(total, opts, g, record);
                report.triples = triples;
                self.write(report, &kept, g, &tallies, stats, seq)
            }
        })
    }
}

/// How streaming a task's records stopped: its source is unreadable (the task fails), the
/// rules could not be read back (the run's error), or the file could not be written.
enum Stop<E> {
    Data(crate::triples::DataError),
    Task(TaskError),
    Write(E),
}

impl<E> From<RulesError> for Stop<E> {
    fn from(e: RulesError) -> Self {
        Stop::Task(e.into())
    }
}

impl<E> From<crate::triples::DataError> for Stop<E> {
    fn from(e: crate::triples::DataError) -> Self {
        Stop::Data(e)
    }
}
