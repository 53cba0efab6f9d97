//! The final outputs of an execution, rebuilt from its task files: `results.csv`,
//! `summary.json`, `rule-stats.txt`, `rule-health.tsv` and the reports.

use std::io::{self, Write};
use std::path::Path;

use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use super::baseline::Baseline;
use super::spec::ExecutionSpec;
use super::store::taskfile::{Expected, TaskFile, TaskRef};
use super::store::{Marker, Staged, StoreError, folder};
use super::{RunError, out_err};
use crate::manifest::TaskList;
use crate::report::{
    BaselineCounts, CutShort, Exporter, FailOn, FailPolicy, OutputFormat, RecordReport, RuleHealth,
    RunInfo, SeverityCounts, Summary, Verdict,
};
use crate::rules::RuleCatalog;
use crate::stats::{RuleStats, StatsError};

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
    /// Tasks by the severity of their strongest finding.
    pub tasks_by_severity: SeverityCounts,
    /// Tasks without a result: their file is missing, or is not their result (a tasks file
    /// changed under the run). Such a run is not complete and exits 2.
    pub tasks_unchecked: usize,
    /// Records of the tasks done (a task that failed before reading any counts as one).
    pub records: u64,
    /// Records by the severity of their strongest finding: the unit `fail_on_count` and
    /// `fail_on_ratio` count, as in the reports' summaries.
    pub records_by_severity: SeverityCounts,
    /// Records whose rules were cut short by the work bound or the time budget.
    #[serde(skip_serializing_if = "CutShort::is_none")]
    pub cut_short: CutShort,
    /// What the exit code says: `ok`, `findings`, `incomplete` or `failed`.
    pub verdict: Verdict,
    pub rules: usize,
    /// How the rules fared on this execution's records (complete runs).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_health: Option<RuleHealth>,
    /// Against `--baseline`: new (by severity), known and fixed findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineCounts>,
    /// The first tasks without a result, with why (for the closing message).
    #[serde(skip)]
    pub unchecked: Vec<String>,
    /// What was noticed before the run: rules whose relations the first records never give
    /// under the encoding in force (`encoding.rs`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl RunSummary {
    /// Settles `verdict` by the one rule the reports follow too ([`Verdict::of`]): tasks
    /// without a result or failed, then rules cut short, then findings (records counted, as
    /// the reports count them).
    pub fn judge(&mut self, policy: &FailPolicy, new_only: bool) {
        let fails = crate::report::findings_fail(
            policy,
            &self.records_by_severity,
            self.records,
            self.baseline.as_ref(),
            new_only,
        );
        let failed = self.tasks_unchecked > 0 || self.tasks_failed > 0;
        self.verdict = Verdict::of(failed, &self.cut_short, fails);
    }

    /// The exit code (given no signal stopped the run).
    pub fn exit_code(&self) -> u8 {
        crate::exit::code(crate::exit::Ending {
            unchecked: self.tasks_unchecked,
            failed_tasks: self.tasks_failed,
            incomplete: !self.cut_short.is_none(),
            fails: self.verdict == Verdict::Findings,
            ..crate::exit::Ending::default()
        })
    }
}

/// Where and how [`finalize`] writes.
pub struct Finish<'a> {
    /// The folder's ledger and the execution's settings: every output is recorded here
    /// before it is put in place.
    pub marker: &'a mut Marker,
    /// Set by a signal: the work stops between task files.
    pub stop: &'a AtomicBool,
    /// Marks findings new or known, and lists the fixed ones (`fixed.jsonl`).
    pub baseline: Option<&'a mut Baseline>,
}

/// Writes the final outputs of an execution from its task files (this run's and earlier
/// ones'), for the tasks of `shard` (all when `None`), in manifest order: `results.csv`,
/// `summary.json`, and when every one of them is done, `rule-stats.txt`, `rule-health.tsv`
/// and the reports. Each task file is read once, and counts only when it is its task's result
/// (a file that is not its task's result is left out: the summary counts it unchecked and the
/// run exits 2; a file that cannot be read or parsed is an error naming it).
/// Every output is recorded in `marker` before it is put in place. A set `stop` (a signal)
/// ends the work between task files and before the outputs are renamed into place.
pub fn finalize(
    rules: &dyn RuleCatalog,
    tasks: &TaskList,
    fin: Finish<'_>,
) -> Result<RunSummary, RunError> {
    let Finish {
        marker,
        stop,
        mut baseline,
    } = fin;
    let spec = marker.info.clone();
    let out = marker.dir().to_path_buf();
    let stopped = || match stop.load(Ordering::SeqCst) {
        true => Err(RunError::Interrupted),
        false => Ok(()),
    };
    // Reports need every task: feed them only when every task file is there.
    let mut reports = match !spec.reports.is_empty() && all_there(tasks, &spec, &out)? {
        true => Some(Reports::new(rules, &spec, marker)),
        false => None,
    };
    let mut totals =
        Totals::new(rules.rule_count(), marker.stage("results.csv")?).map_err(out_err(&out))?;
    let sinks = (reports.as_mut(), baseline.as_deref_mut());
    read_tasks(tasks, &spec, &out, stop, &mut totals, sinks)?;
    // Lists the baseline's findings that are gone: those of the tasks checked tonight (a
    // task that failed says nothing about its earlier findings: neither fixed nor new).
    let baseline_counts = match baseline {
        Some(b) => Some(marker.put("fixed.jsonl", |w| b.finish(w).map_err(out_err(&out)))?),
        None => None,
    };
    // One pass over the rules (they may be read from disk again, in batches): the rules with
    // predicted/correct/confidence recomputed on this execution's records, streamed to
    // rule-stats.txt, and the rules that applied.
    stopped()?;
    let health_rows = match totals.done == totals.selected {
        true => Some(marker.put("rule-stats.txt", |w| {
            totals
                .stats
                .write_with_health(rules, w)
                .map_err(stats_err(&out))
        })?),
        false => None,
    };
    let health = health_rows
        .as_ref()
        .map(|r| r.summary(rules, crate::report::HEALTH_TOP))
        .transpose()
        .map_err(stats_err(&out))?;
    let broken = totals.stats.broken();
    let summary = totals.summary(&spec, health.clone(), baseline_counts, rules);
    stopped()?;
    marker.commit(totals.csv)?;
    marker.put("summary.json", |w| {
        serde_json::to_writer_pretty(&mut *w, &summary)
            .map_err(io::Error::from)
            .and_then(|()| w.write_all(b"\n"))
            .map_err(out_err(&out))
    })?;
    if let (Some(health), Some(rows)) = (health, health_rows) {
        marker.put("rule-health.tsv", |w| {
            rows.write(rules, w).map_err(stats_err(&out))
        })?;
        if let Some(reports) = reports {
            stopped()?;
            reports
                .finish(health, broken, baseline_counts, marker)
                .map_err(out_err(&out))?;
        }
    }
    Ok(summary)
}

/// Reads the task file of every task the execution owns, in manifest order, one at a time (a
/// tasks file is read again, never held), into `totals` (and the reports and the baseline).
fn read_tasks(
    tasks: &TaskList,
    spec: &ExecutionSpec,
    out: &Path,
    stop: &AtomicBool,
    totals: &mut Totals,
    (mut reports, mut baseline): (Option<&mut Reports>, Option<&mut Baseline>),
) -> Result<(), RunError> {
    let tasks_dir = out.join("tasks");
    for task in tasks.keys()? {
        if stop.load(Ordering::SeqCst) {
            return Err(RunError::Interrupted);
        }
        let (index, key) = task?;
        let task = TaskRef { index, key: &key };
        if !task.owned_by(spec.shard) {
            continue;
        }
        totals.selected += 1;
        let file = task.path(&tasks_dir);
        let sinks = (reports.as_deref_mut(), baseline.as_deref_mut());
        match read_task_file(&file, &task.expected(spec), sinks)? {
            TaskRead::Result(d) => totals.add(*d).map_err(out_err(out))?,
            TaskRead::Missing => totals.not_done(&file, "no result"),
            TaskRead::NotItsResult(why) => totals.not_done(&file, &why),
        }
    }
    Ok(())
}

/// Whether every task file of the tasks the execution owns is in the folder `out`.
fn all_there(tasks: &TaskList, spec: &ExecutionSpec, out: &Path) -> Result<bool, RunError> {
    let tasks_dir = out.join("tasks");
    for task in tasks.keys()? {
        let (index, key) = task?;
        let task = TaskRef { index, key: &key };
        if task.owned_by(spec.shard) && !folder::is_plain_file(&task.path(&tasks_dir)) {
            return Ok(false);
        }
    }
    Ok(true)
}

/// What the task files add up to; `results.csv` written row by row as they are read.
struct Totals {
    stats: RuleStats,
    violations: SeverityCounts,
    findings: SeverityCounts,
    /// Tasks (done) by the severity of their strongest finding.
    by_severity: SeverityCounts,
    /// Tasks this run owns, done (their file is their result), failed.
    selected: usize,
    done: usize,
    failed: usize,
    records: u64,
    records_by_severity: SeverityCounts,
    cut_short: CutShort,
    /// The first tasks without a result, with why.
    unchecked: Vec<String>,
    csv: Staged,
}

impl Totals {
    fn new(rules: usize, mut csv: Staged) -> io::Result<Self> {
        csv.writer()?
            .write_all(b"MSISDN,request,result,observations\n")?;
        Ok(Self {
            stats: RuleStats::new(rules),
            violations: SeverityCounts::default(),
            findings: SeverityCounts::default(),
            by_severity: SeverityCounts::default(),
            selected: 0,
            done: 0,
            failed: 0,
            records: 0,
            records_by_severity: SeverityCounts::default(),
            cut_short: CutShort::default(),
            unchecked: Vec::new(),
            csv,
        })
    }

    /// The summary these totals make (judged under the execution's fail policy), and
    /// `results.csv` to put in place.
    fn summary(
        &self,
        spec: &ExecutionSpec,
        rule_health: Option<RuleHealth>,
        baseline: Option<BaselineCounts>,
        rules: &dyn RuleCatalog,
    ) -> RunSummary {
        let mut summary = RunSummary {
            rule_health,
            execution_id: spec.execution_id.clone(),
            complete: self.done == self.selected,
            tasks: self.selected,
            tasks_done: self.done,
            tasks_failed: self.failed,
            violations: self.violations,
            findings: self.findings,
            fail_on: spec.checks.fail_on,
            tasks_by_severity: self.by_severity,
            tasks_unchecked: self.selected - self.done,
            records: self.records,
            records_by_severity: self.records_by_severity,
            cut_short: self.cut_short,
            verdict: Verdict::Ok,
            baseline,
            rules: rules.rule_count(),
            unchecked: self.unchecked.clone(),
            warnings: spec.warnings.clone(),
        };
        summary.judge(&spec.checks.fail_policy(), spec.fail_on_new);
        summary
    }

    /// A task without a result: counted, and the first few named.
    fn not_done(&mut self, file: &Path, why: &str) {
        if self.unchecked.len() < 5 {
            self.unchecked.push(format!("{} ({why})", file.display()));
        }
    }

    fn add(&mut self, d: TaskFile) -> io::Result<()> {
        self.violations.merge(&d.tail.violations);
        self.findings.merge(&d.tail.findings);
        // Folded in now, not kept: kept for every task they would grow with the run.
        for &(rule, predicted, correct) in &d.tail.rule_counts {
            self.stats.add_rule(rule, predicted, correct);
        }
        if let Some(s) = d.tail.findings.strongest() {
            self.by_severity.add(s, 1);
        }
        self.done += 1;
        self.failed += usize::from(d.tail.error.is_some());
        self.records += d.counted_records();
        self.records_by_severity.merge(&d.tail.records_by_severity);
        self.cut_short.merge(&d.tail.cut_short);
        let row = results_row(
            &d.task,
            &d.sequence,
            d.tail.error.as_deref(),
            &d.tail.findings,
            &d.tail.cut_short,
        );
        self.csv.writer()?.write_all(row.as_bytes())
    }
}

/// A task file read back: its task's result, or why there is none.
enum TaskRead {
    /// The task's result (its records dropped once fed to the reports).
    Result(Box<TaskFile>),
    /// No file.
    Missing,
    /// Another execution's, other rules', or another task's result.
    NotItsResult(String),
}

/// A task file read once: its task's result when it is `want`'s (its records fed to the
/// reports on the way), else why it is not. A file that cannot be read or does not parse is
/// an error naming it: never a task silently left out.
fn read_task_file(
    file: &Path,
    want: &Expected<'_>,
    (mut reports, mut baseline): (Option<&mut Reports>, Option<&mut Baseline>),
) -> Result<TaskRead, RunError> {
    let bytes = match folder::read_nofollow(file) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(TaskRead::Missing),
        Err(source) => {
            return Err(StoreError::Read {
                path: file.display().to_string(),
                source,
            }
            .into());
        }
    };
    let unreadable = |source| StoreError::TaskFile {
        path: file.display().to_string(),
        source,
    };
    if reports.is_none() && baseline.is_none() {
        let d = TaskFile::parse(&bytes).map_err(unreadable)?;
        return Ok(match d.mismatch(want) {
            Some(why) => TaskRead::NotItsResult(why),
            None => TaskRead::Result(Box::new(d)),
        });
    }
    let mut d = TaskFile::<Vec<RecordReport>>::parse(&bytes).map_err(unreadable)?;
    if let Some(why) = d.mismatch(want) {
        return Ok(TaskRead::NotItsResult(why));
    }
    if let Some(b) = baseline.as_deref_mut()
        && d.tail.error.is_none()
    {
        b.checked(&d.task);
    }
    // A task that failed before any record was read is shown as one failed record.
    if d.records.is_empty()
        && let Some(e) = &d.tail.error
    {
        let mut failed =
            RecordReport::failed(crate::triples::RecordId { index: 0, line: 0 }, e.clone());
        failed.task = Some(d.task.clone());
        d.records.push(failed);
    }
    for r in &mut d.records {
        r.sequence = Some(d.sequence.clone());
        if let Some(b) = baseline.as_deref_mut() {
            b.mark(&d.task, r);
        }
        if let Some(reports) = reports.as_deref_mut() {
            reports.record(r);
        }
    }
    Ok(TaskRead::Result(Box::new(d.without_records())))
}

/// An error of a pass over the rules: the rules' own error when they could not be read again,
/// else an output error.
fn stats_err(out: &Path) -> impl Fn(StatsError) -> RunError + '_ {
    move |e| match e {
        StatsError::Rules(e) => RunError::Rules(e),
        StatsError::Write(e) => out_err(out)(e),
    }
}

/// The run's reports, fed record by record in manifest order into temporary files in the
/// output folder (nothing of them is held in memory), renamed into place at the end. One
/// format that fails (a full disk, a value a format cannot hold) never blocks the others: it
/// is dropped, the others are written, and its error is returned at the end.
struct Reports {
    exporters: Vec<ReportFile>,
    summary: Summary,
    fail_on: FailPolicy,
    new_only: bool,
}

/// One report being written: its format, its exporter, its file (`None` once it failed) and
/// why it failed.
struct ReportFile {
    format: OutputFormat,
    exporter: Box<dyn Exporter>,
    file: Option<Staged>,
    error: Option<io::Error>,
}

impl ReportFile {
    /// Drops the file (its temporary name is removed) and keeps the first error.
    fn fail(&mut self, err: io::Error) {
        self.file = None;
        self.error.get_or_insert(err);
    }
}

impl Reports {
    fn new(rules: &dyn RuleCatalog, spec: &ExecutionSpec, marker: &Marker) -> Self {
        let checks = &spec.checks;
        let info = RunInfo {
            // The execution, not the manifest's path: a merged run's reports equal an
            // unsharded one's.
            data: format!("execution {}", spec.execution_id),
            rules: rules.source_names().to_string(),
            rule_count: rules.rule_count(),
            severity: checks.severity,
            fail_on: Some(checks.fail_on),
        };
        let mut r = Reports {
            exporters: Vec::new(),
            summary: Summary {
                rules_total: rules.rule_count(),
                fail_on: Some(checks.fail_on),
                warnings: spec.warnings.clone(),
                ..Summary::default()
            },
            fail_on: checks.fail_policy(),
            new_only: spec.fail_on_new,
        };
        for &format in &spec.reports {
            let mut file = ReportFile {
                format,
                exporter: format.exporter(10, false),
                file: None,
                error: None,
            };
            let opened = marker
                .stage(format.file_name())
                .map_err(io::Error::other)
                .and_then(|mut staged| {
                    file.exporter.begin(staged.writer()?, &info)?;
                    Ok(staged)
                });
            match opened {
                Ok(staged) => file.file = Some(staged),
                Err(err) => file.fail(err),
            }
            r.exporters.push(file);
        }
        r
    }

    fn record(&mut self, report: &RecordReport) {
        self.summary.add(report);
        for f in &mut self.exporters {
            let Some(staged) = f.file.as_mut() else {
                continue;
            };
            let written = staged.writer().and_then(|w| f.exporter.record(w, report));
            if let Err(err) = written {
                f.fail(err);
            }
        }
    }

    fn finish(
        mut self,
        health: RuleHealth,
        rules_violated: usize,
        baseline: Option<BaselineCounts>,
        marker: &mut Marker,
    ) -> io::Result<()> {
        self.summary.rules_violated = rules_violated;
        self.summary.baseline = baseline;
        self.summary.rule_health = Some(health);
        self.summary.judge(&self.fail_on, self.new_only);
        let mut failed = Vec::new();
        for f in &mut self.exporters {
            if let Some(mut staged) = f.file.take() {
                let done = staged
                    .writer()
                    .and_then(|w| f.exporter.finish(w, &self.summary))
                    .and_then(|()| marker.commit(staged).map_err(io::Error::other));
                if let Err(err) = done {
                    f.fail(err);
                }
            }
            if let Some(err) = f.error.take() {
                failed.push(format!("{}: {err}", f.format.file_name()));
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "the other reports were written; these could not be: {}",
                failed.join("; ")
            )))
        }
    }
}

/// A row of `results.csv`, the predecessor's columns: MSISDN, request, result, observations.
fn results_row(
    task: &str,
    sequence: &str,
    error: Option<&str>,
    findings: &SeverityCounts,
    cut: &CutShort,
) -> String {
    fn field(s: &str) -> String {
        let s = spreadsheet_safe(s);
        if s.contains([',', '"']) {
            format!("\"{}\"", s.replace('"', "\"\""))
        } else {
            s
        }
    }
    let (result, obs) = crate::report::outcome(error, findings, cut);
    format!(
        "{},{},{},{}\n",
        field(task),
        field(sequence),
        result,
        field(&obs)
    )
}

/// A cell a spreadsheet shows as text (OWASP CSV injection): control characters become
/// spaces (TAB, CR, LF) or U+FFFD (the rest, NUL included), and a cell that a spreadsheet would
/// read as a formula (starting with `=`, `@`, or with `+`/`-` not followed by a plain number)
/// is prefixed with `'`. Phone numbers such as `+5511...` stay as they are.
pub fn spreadsheet_safe(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| match c {
            '\t' | '\r' | '\n' => ' ',
            c if c.is_control() => '\u{fffd}',
            c => c,
        })
        .collect();
    let formula = match out.chars().next() {
        Some('=' | '@') => true,
        Some('+' | '-') => !out[1..]
            .chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == ' '),
        _ => false,
    };
    if formula {
        out.insert(0, '\'');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_never_formulas_or_controls() {
        assert_eq!(spreadsheet_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(spreadsheet_safe("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(
            spreadsheet_safe("-2+3+cmd|' /C calc'!A0"),
            "'-2+3+cmd|' /C calc'!A0"
        );
        assert_eq!(spreadsheet_safe("+5511999990000"), "+5511999990000");
        assert_eq!(spreadsheet_safe("-12.5"), "-12.5");
        assert_eq!(spreadsheet_safe("a\0b\nc\x1b"), "a\u{fffd}b c\u{fffd}");
        assert_eq!(spreadsheet_safe("5511"), "5511");
    }
    use crate::rules::RulesError;

    #[test]
    fn a_rules_error_in_a_pass_is_reported_as_such() {
        let changed = RulesError::Changed {
            path: "r.rules".into(),
            detail: "its size or modification time differs".into(),
        };
        let e = stats_err(Path::new("out"))(StatsError::Rules(changed));
        assert!(
            matches!(e, RunError::Rules(RulesError::Changed { .. })),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("r.rules changed while pff was using it")
        );
        let e = stats_err(Path::new("out"))(StatsError::Write(io::Error::other("disk full")));
        assert!(
            e.to_string()
                .contains("cannot write to the output folder out"),
            "{e}"
        );
    }
}
