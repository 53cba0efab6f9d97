//! The totals of a command's records ([`Summary`]) and how the rules fared on them
//! ([`RuleHealth`]); the verdict is judged here, once, on records.

use serde::{Deserialize, Serialize};

use super::{BaselineCounts, CutShort, FailOn, FailPolicy, RecordReport, SeverityCounts};

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Records read.
    pub records: usize,
    /// Records that could not be checked.
    pub failed_records: usize,
    /// Triples the records gave.
    pub triples: usize,
    /// (rule, missing triple) violations by severity.
    pub violations: SeverityCounts,
    /// Findings (distinct missing triples per record) by severity.
    pub findings: SeverityCounts,
    /// Records by the severity of their strongest finding (what `--fail-on-count` and
    /// `--fail-on-ratio` count).
    #[serde(default)]
    pub records_by_severity: SeverityCounts,
    /// Rules violated on at least one record.
    pub rules_violated: usize,
    /// Rules read.
    pub rules_total: usize,
    /// The level that fails the command, when there is one.
    pub fail_on: Option<FailOn>,
    /// True when the check did not pass: the verdict is not `ok`.
    pub failed: bool,
    /// Findings over the fail policy, a record that could not be checked, or rules cut short.
    #[serde(default)]
    pub verdict: Verdict,
    /// Records whose rules were cut short.
    #[serde(default, skip_serializing_if = "CutShort::is_none")]
    pub cut_short: CutShort,
    /// How the rules fared on this data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule_health: Option<RuleHealth>,
    /// Against a baseline: new, known and fixed findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineCounts>,
    /// What was noticed before checking: rules whose relations the records never give under
    /// the encoding in force (`encoding.rs`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

/// How a rule set fared on the data: which rules applied, and which lost confidence.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleHealth {
    /// Rules whose body matched at least once.
    pub applied: usize,
    /// Rules whose body never matched (they said nothing about this data).
    pub never_applied: usize,
    /// The rules whose observed confidence fell furthest below the mined one, worst first.
    pub drift: Vec<RuleDrift>,
}

/// One rule's mined confidence next to what the data shows.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleDrift {
    /// `file:line` of the rule.
    pub rule_id: String,
    /// The rule as written.
    pub rule: String,
    /// Its confidence when it was mined.
    pub mined_confidence: f64,
    /// `correct / predicted` on this data.
    pub observed_confidence: f64,
    /// Groundings of its body on these records.
    pub predicted: u64,
    /// Of those, groundings whose head held.
    pub correct: u64,
    /// Records on which the rule applied, held (no violation), was broken.
    pub records_applied: u64,
    /// Records it applied to.
    pub records_held: u64,
    /// Records it was broken on.
    pub records_broken: u64,
}

impl Summary {
    /// Adds one record's report to the totals.
    pub fn add(&mut self, r: &RecordReport) {
        self.records += 1;
        if r.error.is_some() {
            self.failed_records += 1;
        }
        self.cut_short.add_record(&r.rules);
        self.triples += r.triples;
        self.violations.merge(&r.violations);
        self.findings.merge(&r.finding_counts);
        if let Some(s) = r.strongest() {
            self.records_by_severity.add(s, 1);
        }
    }
}

impl Summary {
    /// Settles `verdict` and `failed` under `policy` (records judged by their strongest
    /// finding; with `new_only` and a baseline, new findings only): a failed record first,
    /// then rules cut short, then findings.
    pub fn judge(&mut self, policy: &FailPolicy, new_only: bool) {
        let fails = findings_fail(
            policy,
            &self.records_by_severity,
            self.records as u64,
            self.baseline.as_ref(),
            new_only,
        );
        self.verdict = Verdict::of(self.failed_records > 0, &self.cut_short, fails);
        self.failed = self.verdict != Verdict::Ok;
    }
}

/// The verdict of a check, in order of precedence: what the exit code says (see
/// [`crate::exit::code`]) and what every report's summary says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Everything was checked and nothing at or above `--fail-on` (under its count and ratio).
    #[default]
    Ok,
    /// Everything was checked; findings at or above `--fail-on` (exit 1).
    Findings,
    /// Some record's rules were cut short: what was found stands, but absence proves nothing
    /// (exit 4).
    Incomplete,
    /// Some record or task could not be checked at all (exit 2 or 3).
    Failed,
}

impl Verdict {
    /// The one rule every command's verdict follows: something not checked at all first,
    /// then rules cut short, then findings that fail under the policy (`fails`).
    pub fn of(failed: bool, cut_short: &CutShort, fails: bool) -> Verdict {
        if failed {
            Verdict::Failed
        } else if !cut_short.is_none() {
            Verdict::Incomplete
        } else if fails {
            Verdict::Findings
        } else {
            Verdict::Ok
        }
    }
}

/// Whether findings fail a command under `policy`, its records counted by the severity of
/// their strongest finding (`by_severity`, of `records`); with `new_only` and a baseline, new
/// findings only.
pub fn findings_fail(
    policy: &FailPolicy,
    by_severity: &SeverityCounts,
    records: u64,
    baseline: Option<&BaselineCounts>,
    new_only: bool,
) -> bool {
    match (baseline, new_only) {
        (Some(b), true) => policy.on.fails(&b.new),
        _ => policy.fails(by_severity, records),
    }
}
