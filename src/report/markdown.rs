//! A Markdown summary a person pastes into a ticket.

use std::io::{self, Write};

use super::spool::Spool;
use super::{Exporter, RecordReport, RunInfo, Summary, Verdict, printable};

/// A table of records, then each record's top findings (both spooled: the totals come first).
pub struct Markdown {
    top: usize,
    rows: Spool,
    details: Spool,
}

impl Markdown {
    /// A report listing the `top` strongest findings of each record.
    pub fn new(top: usize) -> Self {
        Self {
            top,
            rows: Spool::new(),
            details: Spool::new(),
        }
    }
}

/// Escapes text for a table cell: control characters as escapes ([`printable`]), markup
/// (`<`, `>`, `&` as entities; `](` as `]\\(` so that no inline link is made), `|` for the table,
/// backticks as quotes. Text from the data never becomes HTML or a link in a rendered ticket.
fn cell(s: &str) -> String {
    let s = printable(s);
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '|' => o.push_str("\\|"),
            '`' => o.push('\''),
            '(' if o.ends_with(']') => o.push_str("\\("),
            c => o.push(c),
        }
    }
    o
}

/// Escapes text for inline code in a table cell: markup is literal there, so only control
/// characters, `|` and backticks.
fn code(s: &str) -> String {
    printable(s).replace('|', "\\|").replace('`', "'")
}

impl Exporter for Markdown {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        writeln!(out, "# pff report\n")?;
        writeln!(
            out,
            "**Data:** `{}` · **Rules:** `{}` ({} rules) · severity: error >= {}, warning >= {}\n",
            code(&info.data),
            code(&info.rules),
            info.rule_count,
            info.severity.error,
            info.severity.warning
        )
    }

    fn record(&mut self, _: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        let name = code(r.name.as_deref().unwrap_or("?"));
        // A run's record goes by its task key; a file's by its index.
        let key = match &r.task {
            Some(t) if r.index == 0 => cell(t),
            Some(t) => format!("{}#{}", cell(t), r.index),
            None => r.index.to_string(),
        };
        if let Some(e) = &r.error {
            return writeln!(self.rows, "| {key} | – | **failed**: {} | | | |", cell(e));
        }
        if r.rules.truncated + r.rules.skipped > 0 {
            writeln!(
                self.rows,
                "| {key} `{name}` | {} | **incomplete**: {} rules skipped, {} cut short | | | |",
                r.triples, r.rules.skipped, r.rules.truncated
            )?;
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
            d.push_str(&finding_row(f));
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
        match s.verdict {
            Verdict::Ok | Verdict::Findings => {}
            Verdict::Incomplete => writeln!(
                out,
                "**Incomplete:** {} records were not fully checked ({}); a record without \
                 findings among them proves nothing.\n",
                s.cut_short.records,
                s.cut_short.describe()
            )?,
            Verdict::Failed => writeln!(
                out,
                "**Failed:** {} records could not be checked (listed below).\n",
                s.failed_records
            )?,
        }
        for w in &s.warnings {
            writeln!(out, "**Warning:** {}\n", cell(w))?;
        }
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
                        "| `{}` | {:.3} | {:.3} | {} / {} | `{}` |",
                        code(&d.rule_id),
                        d.mined_confidence,
                        d.observed_confidence,
                        d.records_held,
                        d.records_applied,
                        code(&d.rule)
                    )?;
                }
            }
        }
        Ok(())
    }
}

/// A finding as a row of its record's table.
fn finding_row(f: &crate::report::Finding) -> String {
    let (rule, evidence) = f.top().map_or((String::new(), String::new()), |t| {
        let ev: Vec<String> = t.evidence.iter().map(|e| e.to_string()).collect();
        (
            format!("`{}` `{}`", code(&t.rule_id), code(&t.rule)),
            if ev.is_empty() {
                String::new()
            } else {
                format!("`{}`", code(&ev.join(", ")))
            },
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
    format!(
        "| {} | {:.3} | `{}` | {} | {} | {} | {} |\n",
        f.severity.name(),
        f.score,
        code(&shown.to_string()),
        cell(&present),
        f.rule_count,
        rule,
        evidence
    )
}
