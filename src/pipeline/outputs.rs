//! The final outputs of an execution, rebuilt from its task files: `results.csv`,
//! `summary.json`, `rule-stats.txt`, `rule-health.tsv` and the reports.

use std::fs;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{RunError, out_err, task_file, write_atomic};
use crate::manifest::Manifest;
use crate::report::{
    Exporter, FailOn, OutputFormat, RecordReport, RuleHealth, RunInfo, SeverityCounts,
    SeverityCuts, Summary,
};
use crate::validate::{RuleStats, Validator};

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
