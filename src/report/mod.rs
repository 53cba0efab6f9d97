//! The result model (one [`Finding`] per violation, a [`RecordReport`] per record, a
//! [`Summary`] per run) and its exporters, one per format behind [`Exporter`].

mod human;
mod json;
mod junit;
mod markdown;
mod message;
mod sarif;
mod score;
mod spool;
mod summary;
mod xlsx;

use std::io::{self, Write};

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use human::Human;
pub use json::{Json, JsonLines};
pub use junit::Junit;
pub use markdown::Markdown;
pub use message::{culprit_message, finding_message};
pub use sarif::Sarif;
pub use score::{LogSum, combined_score, noisy_or, score_of};
pub use summary::{RuleDrift, RuleHealth, Summary, Verdict, findings_fail};
pub use xlsx::Xlsx;

pub use crate::severity::Severity;

/// Confidence cut points: `>= error` is an error, `>= warning` a warning, else info.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct SeverityCuts {
    /// A score at or above this is an error.
    pub error: f64,
    /// A score at or above this (and below `error`) is a warning.
    pub warning: f64,
}

impl Default for SeverityCuts {
    fn default() -> Self {
        Self {
            error: crate::defaults::ERROR_CONFIDENCE,
            warning: crate::defaults::WARNING_CONFIDENCE,
        }
    }
}

impl SeverityCuts {
    /// The severity of a finding scored `confidence`.
    pub fn of(&self, confidence: f64) -> Severity {
        if confidence >= self.error {
            Severity::Error
        } else if confidence >= self.warning {
            Severity::Warning
        } else {
            Severity::Info
        }
    }
}

/// The lowest severity that makes a run fail (exit code 1); `error` by default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    #[default]
    /// Fail on an error finding.
    Error,
    /// Fail on a warning or worse.
    Warning,
    /// Fail on any finding.
    Info,
    /// Never fail on findings.
    Never,
}

impl FailOn {
    /// Whether `counts` hold a finding this level fails on.
    pub fn fails(self, counts: &SeverityCounts) -> bool {
        match self {
            FailOn::Error => counts.error > 0,
            FailOn::Warning => counts.error + counts.warning > 0,
            FailOn::Info => counts.total() > 0,
            FailOn::Never => false,
        }
    }
}

/// When findings fail a command (exit 1): the level (`--fail-on`), and how many records, or
/// what share of them, must have a finding at or above it (`--fail-on-count`,
/// `--fail-on-ratio`: more than either fails; both 0 by default, so one record fails).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FailPolicy {
    /// The lowest severity that counts.
    pub on: FailOn,
    #[serde(default)]
    /// Records at `on` or above that are tolerated.
    pub count: u64,
    #[serde(default)]
    /// Share of records at `on` or above that is tolerated.
    pub ratio: f64,
}

impl FailPolicy {
    /// Fail on any record at `on` or above.
    pub fn new(on: FailOn) -> Self {
        Self {
            on,
            count: 0,
            ratio: 0.0,
        }
    }

    /// `records`: records by the severity of their strongest finding, of `total` records.
    pub fn fails(&self, records: &SeverityCounts, total: u64) -> bool {
        let at = match self.on {
            FailOn::Error => records.error,
            FailOn::Warning => records.error + records.warning,
            FailOn::Info => records.total(),
            FailOn::Never => return false,
        };
        at > self.count && at as f64 > self.ratio * total as f64
    }
}

/// Violations counted by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeverityCounts {
    /// Error-level count.
    pub error: u64,
    /// Warning-level count.
    pub warning: u64,
    /// Info-level count.
    pub info: u64,
}

impl SeverityCounts {
    /// Adds `n` at severity `s`.
    pub fn add(&mut self, s: Severity, n: u64) {
        match s {
            Severity::Error => self.error += n,
            Severity::Warning => self.warning += n,
            Severity::Info => self.info += n,
        }
    }

    /// Adds every count of `o`.
    pub fn merge(&mut self, o: &SeverityCounts) {
        self.error += o.error;
        self.warning += o.warning;
        self.info += o.info;
    }

    /// The sum of the counts.
    pub fn total(&self) -> u64 {
        self.error + self.warning + self.info
    }

    /// The highest severity counted, if any.
    pub fn strongest(&self) -> Option<Severity> {
        if self.error > 0 {
            Some(Severity::Error)
        } else if self.warning > 0 {
            Some(Severity::Warning)
        } else if self.info > 0 {
            Some(Severity::Info)
        } else {
            None
        }
    }
}

/// A triple by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Triple {
    /// The subject's name.
    pub subject: String,
    /// The relation's name.
    pub relation: String,
    /// The object's name.
    pub object: String,
}

impl std::fmt::Display for Triple {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}({},{})",
            printable(&self.relation),
            printable(&self.subject),
            printable(&self.object)
        )
    }
}

/// Text from the data made safe for a terminal or a text report: control characters (ESC,
/// NUL, C1 controls) and the bidirectional overrides that reorder what a reader sees are
/// written as escapes (`\t`, `\n`, `\r`, `\u{1b}`); everything else is unchanged.
pub fn printable(s: &str) -> std::borrow::Cow<'_, str> {
    fn unsafe_char(c: char) -> bool {
        c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !s.chars().any(unsafe_char) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\t' => o.push_str("\\t"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            c if unsafe_char(c) => o.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
}

/// One rule that predicts a finding's missing triple, with its witness.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleEvidence {
    /// `file:line` of the rule.
    pub rule_id: String,
    /// The rule as written.
    pub rule: String,
    /// Mined confidence and counts (support) of the rule.
    pub confidence: f64,
    /// How many violations this rule has on the record.
    pub violations_on_record: u64,
    /// `confidence / violations_on_record`: what this rule adds to the finding's score.
    pub weight: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The rule's predicted count when it was mined.
    pub mined_predicted: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    /// The rule's correct count when it was mined.
    pub mined_correct: Option<u64>,
    /// The witness grounding: variable -> entity.
    pub bindings: BTreeMap<String, String>,
    /// The body triples that matched under the bindings.
    pub evidence: Vec<Triple>,
}

/// A finding against a baseline (an earlier execution): seen there, or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BaselineState {
    /// Not in the baseline.
    New,
    /// In the baseline too.
    Known,
}

/// Findings against a baseline: new ones by severity, known ones, and the baseline's findings
/// (of the same tasks) that are gone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BaselineCounts {
    /// New findings, by severity.
    pub new: SeverityCounts,
    /// Findings that were in the baseline too.
    pub known: u64,
    /// Baseline findings of tonight's tasks that are gone.
    pub fixed: u64,
}

/// What a finding says of its slot (subject, relation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The slot holds other values (`present`): one of them is probably wrong.
    Conflict,
    /// The slot holds no value at all: the predicted one is probably missing.
    EmptySlot,
    /// A value of the record (`culprit`) that conflicts on other nodes follow from: their
    /// strongest rules all go through it.
    Culprit,
}

impl FindingKind {
    /// The kind's name in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Conflict => "conflict",
            FindingKind::EmptySlot => "empty slot",
            FindingKind::Culprit => "culprit",
        }
    }
}

/// A missing triple and every rule that predicts it: near-identical rules pointing at the same
/// gap give one finding, not fifty. Shaped like a SHACL validation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// From the score, by the severity cut points.
    pub severity: Severity,
    /// The ranking key, in [0, 1]: [`combined_score`] of the rules' weights, where a rule's
    /// weight is its confidence divided by its number of violations on this record (a rule
    /// broken once on a record points at that gap; one broken fifty times says little about
    /// each).
    pub score: f64,
    /// A one-line explanation.
    pub message: String,
    /// Whether the slot holds other values (a conflict) or none (an empty slot).
    pub kind: FindingKind,
    /// The node the finding is about: the missing triple's subject, or, for a relation a
    /// nested mapping derives, the node of the record that holds the present value (or the
    /// entry that lacks it): the place to fix.
    pub focus: String,
    /// The head triple the rules predict and the record lacks.
    pub missing: Triple,
    /// Conflicts: the values the slot holds instead (at most 5).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub present: Vec<String>,
    /// The other missing triples on the same focus node, strongest first (at most
    /// [`MAX_CONSEQUENCES`](crate::check::MAX_CONSEQUENCES)): one wrong value breaks several
    /// expectations on its node; they are listed here rather than ranked on their own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub consequences: Vec<Triple>,
    /// How many there are.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consequence_count: usize,
    /// A culprit: the present triple to fix. `missing` is then the strongest conflict it
    /// explains, and `rules` that conflict's rules (their evidence goes through the culprit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub culprit: Option<Triple>,
    /// A culprit: the missing triples of the conflicts on other nodes it explains, strongest
    /// first (they keep their own places in the ranking).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explains: Vec<Triple>,
    /// Against a baseline (`pff run --baseline`): new since it, or known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineState>,
    /// How many rules predict it.
    pub rule_count: usize,
    /// The rules (strongest first; at most [`MAX_RULES_PER_FINDING`]).
    pub rules: Vec<RuleEvidence>,
}

impl Finding {
    /// The strongest rule.
    pub fn top(&self) -> Option<&RuleEvidence> {
        self.rules.first()
    }
}

/// Rules whose check was cut short (by `--max-rule-work` or a time budget), over records or
/// tasks: a record with any is never OK (`INCOMPLETE`, exit code 4).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CutShort {
    /// Records with at least one rule skipped or cut short.
    pub records: u64,
    /// Rules not checked at all because the time budget ran out.
    pub rules_skipped: u64,
    /// Rules whose check stopped part way (work bound or time budget).
    pub rules_truncated: u64,
}

impl CutShort {
    /// Nothing was cut short.
    pub fn is_none(&self) -> bool {
        self.records == 0
    }

    /// Counts one record's rules.
    pub fn add_record(&mut self, rules: &RuleCounts) {
        if rules.skipped + rules.truncated > 0 {
            self.records += 1;
            self.rules_skipped += rules.skipped as u64;
            self.rules_truncated += rules.truncated as u64;
        }
    }

    /// Adds the counts of `o`.
    pub fn merge(&mut self, o: &CutShort) {
        self.records += o.records;
        self.rules_skipped += o.rules_skipped;
        self.rules_truncated += o.rules_truncated;
    }

    /// `3 rules skipped and 1 cut short by the work bound or time budget`.
    pub fn describe(&self) -> String {
        format!(
            "{} rule{} skipped and {} cut short by the work bound or time budget",
            self.rules_skipped,
            if self.rules_skipped == 1 { "" } else { "s" },
            self.rules_truncated
        )
    }
}

/// A record's (or task's) outcome in the predecessor's words, for `results.csv` and the xlsx
/// results sheet: `FAILED` (with the reason) when it could not be checked, `INCOMPLETE` when
/// rules were cut short, else what was found at the highest severity (`ERRORS`, `WARNINGS`,
/// else `OK` — a record with only info findings is OK), and the counts.
pub fn outcome(
    error: Option<&str>,
    counts: &SeverityCounts,
    cut: &CutShort,
) -> (&'static str, String) {
    match error {
        Some(e) => ("FAILED", e.to_string()),
        None if !cut.is_none() => (
            "INCOMPLETE",
            format!(
                "{}; {} error, {} warning, {} info findings so far",
                cut.describe(),
                counts.error,
                counts.warning,
                counts.info
            ),
        ),
        None if counts.total() == 0 => ("OK", "no findings".to_string()),
        None => (
            match counts.strongest() {
                Some(Severity::Error) => "ERRORS",
                Some(Severity::Warning) => "WARNINGS",
                _ => "OK",
            },
            format!(
                "{} error, {} warning, {} info findings",
                counts.error, counts.warning, counts.info
            ),
        ),
    }
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Rules listed per finding (all are counted in `rule_count` and the score).
pub const MAX_RULES_PER_FINDING: usize = 10;

pub use crate::defaults::HEALTH_TOP;

/// Rule counts on one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCounts {
    /// Rules in the rule set (every one was considered).
    pub total: usize,
    /// Rules broken on the record (a prediction missing).
    pub violated: usize,
    /// Rules that applied and held.
    pub satisfied: usize,
    /// Rules whose body did not match the record.
    pub not_applicable: usize,
    /// Rules cut short by the work bound or the time budget (their counts are partial).
    #[serde(default)]
    pub truncated: usize,
    /// Rules not checked because the record's time budget ran out.
    #[serde(default)]
    pub skipped: usize,
}

/// What one record (or one triples file) gave. `F` is its findings: held (`Vec<Finding>`), or
/// [`Streamed`] one at a time as the report is written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordReport<F = Vec<Finding>> {
    /// The task key the record came from (`pff run`: the MSISDN people search for).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// The task's request (`sequence:` of the manifest, `pff run`'s reports only): what the
    /// results sheet calls it, as `results.csv` does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<String>,
    /// 0-based record index in its file.
    pub index: usize,
    /// 1-based line where the record starts.
    pub line: usize,
    /// The root node's name (its id), when the record could be read.
    pub name: Option<String>,
    /// Why the record could not be checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Triples the record gave.
    pub triples: usize,
    /// How the rules fared on it.
    pub rules: RuleCounts,
    /// Every (rule, missing triple) violation, by the rule's severity.
    pub violations: SeverityCounts,
    /// Every finding (distinct missing triple), by severity, kept or not.
    pub finding_counts: SeverityCounts,
    /// The findings kept, highest score first.
    pub findings: F,
    /// True when findings were left out by a cap.
    pub truncated: bool,
}

impl<F> RecordReport<F> {
    /// How reports name this record: its task key (with the record's index when it is not the
    /// task's first), else `record N NAME`.
    pub fn label(&self) -> String {
        let name = self.name.as_deref().unwrap_or("?");
        match &self.task {
            Some(t) if self.index == 0 => format!("{t} ({name})"),
            Some(t) => format!("{t}#{} ({name})", self.index),
            None => format!("record {} {name}", self.index),
        }
    }

    /// The severity the fail policy judges this record by: its strongest finding (its
    /// strongest violation in counts-only mode, which has no findings).
    pub fn strongest(&self) -> Option<Severity> {
        if self.finding_counts.total() > 0 {
            self.finding_counts.strongest()
        } else {
            self.violations.strongest()
        }
    }
}

impl RecordReport {
    /// The report of a record that could not be checked, and why.
    pub fn failed(id: crate::triples::RecordId, error: String) -> Self {
        Self {
            task: None,
            sequence: None,
            index: id.index,
            line: id.line,
            name: None,
            error: Some(error),
            triples: 0,
            rules: RuleCounts::default(),
            violations: SeverityCounts::default(),
            finding_counts: SeverityCounts::default(),
            findings: Vec::new(),
            truncated: false,
        }
    }

    /// This report with its findings to come from `findings`, one at a time, when it is
    /// serialised (this report's own are left out): the same type, so the same bytes
    /// `serde_json` writes for a report holding them, and a record with thousands of findings
    /// never holds them all.
    pub fn streaming<I: Iterator<Item = Finding>>(&self, findings: I) -> RecordReport<Streamed<I>> {
        RecordReport {
            task: self.task.clone(),
            sequence: self.sequence.clone(),
            index: self.index,
            line: self.line,
            name: self.name.clone(),
            error: self.error.clone(),
            triples: self.triples,
            rules: self.rules,
            violations: self.violations,
            finding_counts: self.finding_counts,
            findings: Streamed(std::cell::RefCell::new(Some(findings))),
            truncated: self.truncated,
        }
    }

    /// Writes this report as JSON with its findings from `findings` ([`RecordReport::streaming`]).
    pub fn write_json_with(
        &self,
        w: &mut impl Write,
        findings: impl Iterator<Item = Finding>,
    ) -> io::Result<()> {
        serde_json::to_writer(w, &self.streaming(findings)).map_err(io::Error::from)
    }
}

/// Items serialised as a sequence as they come from an iterator, once: what a streamed
/// report's findings are.
pub struct Streamed<I>(std::cell::RefCell<Option<I>>);

impl<I: Iterator> Serialize for Streamed<I>
where
    I::Item: Serialize,
{
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let items = self.0.borrow_mut().take();
        s.collect_seq(items.into_iter().flatten())
    }
}

/// What an exporter needs to know before the first record.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    /// What was checked (a file, or an execution).
    pub data: String,
    /// The rules file(s).
    pub rules: String,
    /// Rules read.
    pub rule_count: usize,
    /// The cut points in force.
    pub severity: SeverityCuts,
    /// The level that fails the command, when there is one.
    pub fail_on: Option<FailOn>,
}

/// One output format. Records arrive in input order, each as soon as it is checked.
pub trait Exporter {
    /// Starts the report, before the first record.
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()>;
    /// Adds one record's report.
    fn record(&mut self, out: &mut dyn Write, report: &RecordReport) -> io::Result<()>;
    /// Ends the report with the totals.
    fn finish(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()>;
}

/// Report formats, shared by `pff validate` and `pff run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// A short summary per record for people.
    Human,
    /// One JSON document.
    Json,
    /// One JSON object per finding (and one per failed record).
    Jsonl,
    /// A Markdown summary to paste into a ticket.
    Markdown,
    /// JUnit XML: a test case per record, a failure per finding at or above --fail-on.
    Junit,
    /// SARIF 2.1.0: a result per finding.
    Sarif,
    /// An Excel workbook: a results sheet in the predecessor's columns and a findings sheet.
    Xlsx,
}

impl OutputFormat {
    /// The exporter for this format; `top` bounds the findings listed per record by the
    /// human and Markdown formats; `color` applies to the human format.
    pub fn exporter(self, top: usize, color: bool) -> Box<dyn Exporter> {
        match self {
            OutputFormat::Human => Box::new(Human::new(top, color)),
            OutputFormat::Json => Box::new(Json::default()),
            OutputFormat::Jsonl => Box::new(JsonLines),
            OutputFormat::Markdown => Box::new(Markdown::new(top)),
            OutputFormat::Junit => Box::new(Junit::default()),
            OutputFormat::Sarif => Box::new(Sarif::default()),
            OutputFormat::Xlsx => Box::new(Xlsx::default()),
        }
    }

    /// The file name a run writes this report to.
    pub fn file_name(self) -> &'static str {
        match self {
            OutputFormat::Human => "report.txt",
            OutputFormat::Json => "report.json",
            OutputFormat::Jsonl => "report.jsonl",
            OutputFormat::Markdown => "report.md",
            OutputFormat::Junit => "junit.xml",
            OutputFormat::Sarif => "report.sarif",
            OutputFormat::Xlsx => "report.xlsx",
        }
    }
}

#[cfg(test)]
#[path = "mod_tests.rs"]
mod tests;
