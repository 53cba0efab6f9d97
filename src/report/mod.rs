//! The result model (one [`Finding`] per violation, a [`RecordReport`] per record, a
//! [`Summary`] per run) and its exporters, one per format behind [`Exporter`].

mod human;
mod json;

use std::io::{self, Write};

use serde::Serialize;

pub use human::Human;
pub use json::{Json, JsonLines};

/// How serious a finding is, from the mined confidence of its rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    pub fn name(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Error => "error",
        }
    }
}

/// Confidence cut points: `>= error` is an error, `>= warning` a warning, else info.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct SeverityCuts {
    pub error: f64,
    pub warning: f64,
}

impl Default for SeverityCuts {
    fn default() -> Self {
        Self {
            error: 0.9,
            warning: 0.5,
        }
    }
}

impl SeverityCuts {
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

/// The lowest severity that makes a run fail (exit code 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

impl FailOn {
    pub fn fails(self, counts: &SeverityCounts) -> bool {
        match self {
            FailOn::Error => counts.error > 0,
            FailOn::Warning => counts.error + counts.warning > 0,
            FailOn::Info => counts.total() > 0,
            FailOn::Never => false,
        }
    }
}

/// Violations counted by severity.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct SeverityCounts {
    pub error: u64,
    pub warning: u64,
    pub info: u64,
}

impl SeverityCounts {
    pub fn add(&mut self, s: Severity, n: u64) {
        match s {
            Severity::Error => self.error += n,
            Severity::Warning => self.warning += n,
            Severity::Info => self.info += n,
        }
    }

    pub fn merge(&mut self, o: &SeverityCounts) {
        self.error += o.error;
        self.warning += o.warning;
        self.info += o.info;
    }

    pub fn total(&self) -> u64 {
        self.error + self.warning + self.info
    }
}

/// A triple by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Triple {
    pub subject: String,
    pub relation: String,
    pub object: String,
}

/// One violation: a rule whose body holds on the record while its head triple is missing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub severity: Severity,
    /// A one-line explanation.
    pub message: String,
    /// `file:line` of the rule.
    pub rule_id: String,
    pub rule: String,
    /// Mined confidence and counts (support) of the rule.
    pub confidence: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mined_predicted: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mined_correct: Option<u64>,
    /// The node the finding is about (the missing triple's subject).
    pub focus: String,
    /// The head triple the rule predicts and the record lacks.
    pub missing: Triple,
    /// The witness grounding: variable -> entity.
    pub bindings: std::collections::BTreeMap<String, String>,
    /// The body triples that matched under the bindings.
    pub evidence: Vec<Triple>,
}

/// Rule counts on one record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RuleCounts {
    pub total: usize,
    pub violated: usize,
    pub satisfied: usize,
    pub not_applicable: usize,
}

/// What one record (or one triples file) gave.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordReport {
    /// 0-based record index in its file.
    pub index: usize,
    /// 1-based line where the record starts.
    pub line: usize,
    /// The root node's name (its id), when the record could be read.
    pub name: Option<String>,
    /// Why the record could not be checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub triples: usize,
    pub rules: RuleCounts,
    /// Every violation, kept or not.
    pub violations: SeverityCounts,
    /// The findings kept, most confident first.
    pub findings: Vec<Finding>,
    /// True when findings were left out by a cap.
    pub truncated: bool,
}

impl RecordReport {
    pub fn failed(index: usize, line: usize, error: String) -> Self {
        Self {
            index,
            line,
            name: None,
            error: Some(error),
            triples: 0,
            rules: RuleCounts::default(),
            violations: SeverityCounts::default(),
            findings: Vec::new(),
            truncated: false,
        }
    }
}

/// Totals of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub records: usize,
    pub failed_records: usize,
    pub triples: usize,
    pub violations: SeverityCounts,
    /// Rules violated on at least one record.
    pub rules_violated: usize,
    pub rules_total: usize,
    pub fail_on: Option<FailOn>,
    /// True when violations at or above `fail_on` were found.
    pub failed: bool,
}

impl Summary {
    pub fn add(&mut self, r: &RecordReport) {
        self.records += 1;
        if r.error.is_some() {
            self.failed_records += 1;
        }
        self.triples += r.triples;
        self.violations.merge(&r.violations);
    }
}

/// What an exporter needs to know before the first record.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub data: String,
    pub rules: String,
    pub rule_count: usize,
    pub severity: SeverityCuts,
}

/// One output format. Records arrive in input order, each as soon as it is checked.
pub trait Exporter {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()>;
    fn record(&mut self, out: &mut dyn Write, report: &RecordReport) -> io::Result<()>;
    fn finish(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()>;
}

/// Output formats of `pff validate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// A short summary per record for people.
    Human,
    /// One JSON document.
    Json,
    /// One JSON object per finding (and one per failed record).
    Jsonl,
}

impl OutputFormat {
    /// The exporter for this format; `top` bounds the findings the human format lists.
    pub fn exporter(self, top: usize) -> Box<dyn Exporter> {
        match self {
            OutputFormat::Human => Box::new(Human::new(top)),
            OutputFormat::Json => Box::new(Json::default()),
            OutputFormat::Jsonl => Box::new(JsonLines),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_from_confidence() {
        let c = SeverityCuts::default();
        assert_eq!(c.of(0.95), Severity::Error);
        assert_eq!(c.of(0.9), Severity::Error);
        assert_eq!(c.of(0.5), Severity::Warning);
        assert_eq!(c.of(0.49), Severity::Info);
    }

    #[test]
    fn fail_on_levels() {
        let counts = SeverityCounts {
            error: 0,
            warning: 1,
            info: 5,
        };
        assert!(!FailOn::Error.fails(&counts));
        assert!(FailOn::Warning.fails(&counts));
        assert!(FailOn::Info.fails(&counts));
        assert!(!FailOn::Never.fails(&counts));
    }
}
