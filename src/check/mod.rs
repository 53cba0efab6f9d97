//! Checking one record against a rule set, wherever its rules live, in typed steps:
//!
//! 1. [`RecordCheck`]: each chunk of rules, in rule order, adds its outcomes (per-rule counts,
//!    violations folded into groups by missing triple in constant space);
//! 2. [`RecordCheck::rank`] → [`Ranked`]: findings ranked by score, the first
//!    `max_violations` kept;
//! 3. [`Ranked::evidence`] → [`Checked`]: the strongest rules of each finding kept, read back
//!    by index, each with a witness found with the head bound;
//! 4. [`Checked::into_parts`] / [`Checked::finish`]: the report and the per-rule tallies.
//!
//! Where the rules live is a [`RuleHome`]: in memory ([`InMemory`]) or filed on disk
//! ([`Stored`]); [`Checker`] runs the steps over either. No step depends on how the rules were
//! chunked. This module knows neither files nor message wording.

mod checker;
mod culprit;
mod findings;
mod grouping;
mod kept;
mod record;
pub mod rows;

pub use checker::{Checker, InMemory, RecordChecker, RuleHome, SourceChecker, Stored};
pub use findings::KeptFindings;
pub use record::{Checked, Ranked, RecordCheck};

use crate::report::{Severity, SeverityCuts};

/// Consequences listed with a finding (all are counted).
pub const MAX_CONSEQUENCES: usize = 5;

/// Why the evidence of a record could not be gathered: a rule could not be read back.
pub type FetchError = crate::rules::RulesError;

/// One record's counts of one rule that applied: `(rule index, predicted, correct)`.
pub type Tally = (u32, u64, u64);

/// How to check and what to keep.
#[derive(Debug, Clone)]
pub struct Options {
    /// Cut points of the severities on a finding's score.
    pub severity: SeverityCuts,
    /// Build findings (false: per-rule counts only, no findings and no finding counts, e.g.
    /// for `--rule-stats` over a large graph).
    pub findings: bool,
    /// Violations kept per rule per record (before grouping).
    pub max_violations_per_rule: usize,
    /// Findings (groups by missing triple) kept per record, the highest scores.
    pub max_violations: usize,
    /// Findings at or above this severity are kept with their evidence; below it only the
    /// strongest few are listed, without evidence (the counts are always exact).
    pub keep: Severity,
    /// Check one record's rules in parallel (false when records are already spread over
    /// workers, as in `pff run`).
    pub parallel_rules: bool,
    /// Bindings one rule may try on one record before it is cut short (reported).
    pub max_rule_work: u64,
    /// Time one record may take; rules not started by then are skipped (reported).
    pub time_budget: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            severity: SeverityCuts::default(),
            findings: true,
            max_violations_per_rule: usize::MAX,
            max_violations: usize::MAX,
            keep: Severity::Info,
            parallel_rules: true,
            max_rule_work: u64::MAX,
            time_budget: None,
        }
    }
}

/// The report of one record made of `triples`, checked against `rules` keeping every finding
/// (for unit tests).
#[cfg(test)]
pub(crate) fn report_of(
    rules: &crate::rules::RuleSet,
    triples: &[(&str, &str, &str)],
) -> crate::report::RecordReport {
    use crate::triples::{GraphBuilder, RecordId, RecordName, TripleSink};
    let mut b = GraphBuilder::new(&rules.symbols);
    for (s, r, o) in triples {
        b.triple(s, r, o);
    }
    let g = b.finish();
    let name = RecordName {
        id: RecordId { index: 0, line: 1 },
        name: "R".into(),
    };
    let opts = Options {
        keep: Severity::Info,
        ..Options::default()
    };
    let checker = Checker::new(InMemory::new(rules), opts);
    let report = checker.report(&g, name);
    report.map(|r| r.0).unwrap_or_else(|e| panic!("{e}"))
}
