//! The default format: a short summary per record and its highest-scoring findings.

use std::io::{self, Write};

use super::{Exporter, Finding, RecordReport, RunInfo, Severity, Summary, Verdict, printable as p};

/// Lists at most `top` findings per record; colours only when asked (a TTY without `NO_COLOR`).
pub struct Human {
    top: usize,
    color: bool,
}

impl Human {
    /// A report listing the `top` strongest findings of each record, in colour when `color`.
    pub fn new(top: usize, color: bool) -> Self {
        Self { top, color }
    }

    fn paint(&self, s: &str, severity: Severity) -> String {
        if !self.color {
            return s.to_string();
        }
        let code = match severity {
            Severity::Error => "1;31",
            Severity::Warning => "33",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{s}\x1b[0m")
    }

    fn finding(&self, out: &mut dyn Write, f: &Finding) -> io::Result<()> {
        let label = self.paint(&format!("{:<7}", f.severity.name()), f.severity);
        let rules = if f.rule_count == 1 {
            String::new()
        } else {
            format!(" ({} rules)", f.rule_count)
        };
        if let Some(c) = &f.culprit {
            let explains: Vec<String> = f.explains.iter().map(|t| t.to_string()).collect();
            writeln!(
                out,
                "  {label} {:.3}  culprit {c} (at {})",
                f.score,
                p(&f.focus)
            )?;
            writeln!(
                out,
                "          probably wrong: conflicts on other nodes follow from it: {}",
                explains.join(", ")
            )?;
        } else {
            writeln!(
                out,
                "  {label} {:.3}{rules}  missing {}",
                f.score, f.missing
            )?;
        }
        if f.culprit.is_none() && !f.present.is_empty() {
            let at = if f.focus == f.missing.subject {
                String::new()
            } else {
                format!(" (at {})", p(&f.focus))
            };
            writeln!(
                out,
                "          conflict: `{}` of {} is {}{at}",
                p(&f.missing.relation),
                p(&f.missing.subject),
                p(&f.present.join(", "))
            )?;
        } else if f.culprit.is_none() && f.focus != f.missing.subject {
            writeln!(out, "          empty: the value belongs in {}", p(&f.focus))?;
        }
        if f.consequence_count > 0 {
            let listed: Vec<String> = f.consequences.iter().map(|t| t.to_string()).collect();
            let more = f.consequence_count - f.consequences.len();
            let more = if more > 0 {
                format!(" and {more} more")
            } else {
                String::new()
            };
            writeln!(
                out,
                "          also expected of {}: {}{more}",
                p(&f.focus),
                listed.join(", ")
            )?;
        }
        if let Some(r) = f.top() {
            writeln!(
                out,
                "          rule {} ({:.3})  {}",
                p(&r.rule_id),
                r.confidence,
                p(&r.rule)
            )?;
            if r.evidence.is_empty() {
                writeln!(
                    out,
                    "          because {} has a `{}`",
                    p(&f.missing.subject),
                    p(&f.missing.relation)
                )?;
            } else {
                let ev: Vec<String> = r.evidence.iter().map(|t| t.to_string()).collect();
                writeln!(out, "          because {}", ev.join(", "))?;
            }
        }
        Ok(())
    }
}

impl Exporter for Human {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        writeln!(
            out,
            "pff: {} against {} rules of {}",
            p(&info.data),
            info.rule_count,
            p(&info.rules)
        )
    }

    fn record(&mut self, out: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        writeln!(out)?;
        if let Some(e) = &r.error {
            let failed = self.paint("FAILED", Severity::Error);
            let who = match &r.task {
                Some(_) => r.label(),
                None => format!("record {}", r.index),
            };
            // A task that failed before any record was read has no line.
            let line = match r.line {
                0 => String::new(),
                n => format!(" (line {n})"),
            };
            return writeln!(out, "{}{line}: {failed}: {}", p(&who), p(e));
        }
        writeln!(
            out,
            "{} (line {}): {} triples; rules: {} violated, {} satisfied, {} not applicable",
            p(&r.label()),
            r.line,
            r.triples,
            r.rules.violated,
            r.rules.satisfied,
            r.rules.not_applicable
        )?;
        if r.rules.truncated + r.rules.skipped > 0 {
            let warn = self.paint("INCOMPLETE", Severity::Warning);
            writeln!(
                out,
                "  {warn}: {} rules cut short by the work bound or time budget, {} not checked; \
                 absent findings prove nothing",
                r.rules.truncated, r.rules.skipped
            )?;
        }
        let f = &r.finding_counts;
        if f.total() == 0 {
            return writeln!(out, "  no violations");
        }
        writeln!(
            out,
            "  {} findings ({} error, {} warning, {} info) from {} violations",
            f.total(),
            f.error,
            f.warning,
            f.info,
            r.violations.total()
        )?;
        for finding in r.findings.iter().take(self.top) {
            self.finding(out, finding)?;
        }
        let shown = r.findings.len().min(self.top) as u64;
        if f.total() > shown {
            writeln!(
                out,
                "  ... {} more (--top N to list more, --format json for all)",
                f.total() - shown
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        writeln!(out)?;
        for w in &s.warnings {
            writeln!(out, "warning: {}", p(w))?;
        }
        write!(
            out,
            "{} record{}, {} triples, {} findings ({} error, {} warning, {} info) from {} violations",
            s.records,
            if s.records == 1 { "" } else { "s" },
            s.triples,
            s.findings.total(),
            s.findings.error,
            s.findings.warning,
            s.findings.info,
            s.violations.total(),
        )?;
        if s.failed_records > 0 {
            write!(out, "; {} record(s) FAILED to load", s.failed_records)?;
        }
        if !s.cut_short.is_none() {
            write!(
                out,
                "; {} record(s) INCOMPLETE: {}",
                s.cut_short.records,
                s.cut_short.describe()
            )?;
        }
        writeln!(out)?;
        let verdict = match s.verdict {
            Verdict::Ok => "ok: every record checked, nothing at or above --fail-on",
            Verdict::Findings => "findings at or above --fail-on",
            Verdict::Incomplete => "INCOMPLETE: some rules were not checked (exit 4)",
            Verdict::Failed => "FAILED: some records could not be checked",
        };
        writeln!(out, "verdict: {verdict}")?;
        if let Some(h) = &s.rule_health {
            writeln!(
                out,
                "rules: {} applied, {} never applied; strongest drift:",
                h.applied, h.never_applied
            )?;
            for d in h.drift.iter().take(5) {
                writeln!(
                    out,
                    "  {}  mined {:.3} -> observed {:.3} ({} of {} held)  {}",
                    p(&d.rule_id),
                    d.mined_confidence,
                    d.observed_confidence,
                    d.correct,
                    d.predicted,
                    p(&d.rule)
                )?;
            }
        }
        Ok(())
    }
}
