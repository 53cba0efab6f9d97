//! A Markdown summary a person pastes into a ticket.

use std::io::{self, Write};

use super::spool::Spool;
use super::{Exporter, RecordReport, RunInfo, Summary};

/// A table of records, then each record's top findings (both spooled: the totals come first).
pub struct Markdown {
    top: usize,
    rows: Spool,
    details: Spool,
}

impl Markdown {
    pub fn new(top: usize) -> Self {
        Self {
            top,
            rows: Spool::new(),
            details: Spool::new(),
        }
    }
}

/// Escapes text for a table cell or inline code.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('`', "'").replace('\n', " ")
}

impl Exporter for Markdown {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        writeln!(out, "# pff report\n")?;
        writeln!(
            out,
            "**Data:** `{}` · **Rules:** `{}` ({} rules) · severity: error >= {}, warning >= {}\n",
            cell(&info.data),
            cell(&info.rules),
            info.rule_count,
            info.severity.error,
            info.severity.warning
        )
    }

    fn record(&mut self, _: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        let name = cell(r.name.as_deref().unwrap_or("?"));
        // A run's record goes by its task key; a file's by its index.
        let key = match &r.task {
            Some(t) if r.index == 0 => cell(t),
            Some(t) => format!("{}#{}", cell(t), r.index),
            None => r.index.to_string(),
        };
        if let Some(e) = &r.error {
            return writeln!(self.rows, "| {key} | – | **failed**: {} | | | |", cell(e));
        }
        let f = &r.finding_counts;
        writeln!(
            self.rows,
            "| {key} `{name}` | {} | {} | {} | {} | {} |",
            r.triples,
            f.total(),
            f.error,
            f.warning,
            f.info
        )?;
        if r.findings.is_empty() {
            return Ok(());
        }
        let mut d = format!(
            "### Record {key} `{name}`\n\n| severity | score | expected triple | the slot now | rules | strongest rule | evidence |\n|---|---|---|---|---|---|---|\n"
        );
        for f in r.findings.iter().take(self.top) {
            let (rule, evidence) = f.top().map_or((String::new(), String::new()), |t| {
                let ev: Vec<String> = t.evidence.iter().map(|e| e.to_string()).collect();
                (
                    format!("`{}` {}", cell(&t.rule_id), cell(&t.rule)),
                    cell(&ev.join(", ")),
                )
            });
            let mut present = if !f.explains.is_empty() {
                let e: Vec<String> = f.explains.iter().map(|t| t.to_string()).collect();
                format!(
                    "probably wrong: conflicts elsewhere follow from it: {}",
                    e.join(", ")
                )
            } else if f.present.is_empty() {
                "empty slot".to_string()
            } else {
                format!("is {}", f.present.join(", "))
            };
            let shown = f.culprit.as_ref().unwrap_or(&f.missing);
            if f.focus != shown.subject {
                present.push_str(&format!(" (at {})", f.focus));
            }
            if f.consequence_count > 0 {
                present.push_str(&format!(
                    "; {} more expected of {}",
                    f.consequence_count, f.focus
                ));
            }
            d.push_str(&format!(
                "| {} | {:.3} | `{}` | {} | {} | {} | {} |\n",
                f.severity.name(),
                f.score,
                cell(&shown.to_string()),
                cell(&present),
                f.rule_count,
                rule,
                evidence
            ));
        }
        let more = r
            .finding_counts
            .total()
            .saturating_sub(r.findings.len().min(self.top) as u64);
        if more > 0 {
            d.push_str(&format!("\n{more} more findings not shown.\n"));
        }
        writeln!(self.details, "{d}")
    }

    fn finish(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        writeln!(
            out,
            "**{} records**, {} triples: **{} findings** ({} error, {} warning, {} info) from {} violations{}.\n",
            s.records,
            s.triples,
            s.findings.total(),
            s.findings.error,
            s.findings.warning,
            s.findings.info,
            s.violations.total(),
            if s.failed_records > 0 {
                format!("; {} records failed to load", s.failed_records)
            } else {
                String::new()
            }
        )?;
        writeln!(
            out,
            "| record | triples | findings | error | warning | info |"
        )?;
        writeln!(out, "|---|---|---|---|---|---|")?;
        self.rows.copy_to(out)?;
        if !self.details.is_empty() {
            writeln!(out, "\n## Findings\n")?;
            self.details.copy_to(out)?;
        }
        if let Some(h) = &s.rule_health {
            writeln!(
                out,
                "## Rule health\n\n{} rules applied, {} never applied.\n",
                h.applied, h.never_applied
            )?;
            if !h.drift.is_empty() {
                writeln!(
                    out,
                    "| rule | mined | observed | held / applied | text |\n|---|---|---|---|---|"
                )?;
                for d in h.drift.iter().take(10) {
                    writeln!(
                        out,
                        "| `{}` | {:.3} | {:.3} | {} / {} | {} |",
                        cell(&d.rule_id),
                        d.mined_confidence,
                        d.observed_confidence,
                        d.records_held,
                        d.records_applied,
                        cell(&d.rule)
                    )?;
                }
            }
        }
        Ok(())
    }
}
