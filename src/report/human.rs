//! The default format: a short summary per record and its most confident findings.

use std::io::{self, Write};

use super::{Exporter, Finding, RecordReport, RunInfo, Summary, Triple};

/// Lists at most `top` findings per record.
pub struct Human {
    top: usize,
}

impl Human {
    pub fn new(top: usize) -> Self {
        Self { top }
    }
}

fn triple(t: &Triple) -> String {
    format!("{}({},{})", t.relation, t.subject, t.object)
}

fn finding(out: &mut dyn Write, f: &Finding) -> io::Result<()> {
    writeln!(
        out,
        "  {:<7} {:.3}  missing {}",
        f.severity.name(),
        f.confidence,
        triple(&f.missing)
    )?;
    writeln!(out, "          rule {}  {}", f.rule_id, f.rule)?;
    if f.evidence.is_empty() {
        writeln!(
            out,
            "          because {} has a `{}`",
            f.focus, f.missing.relation
        )?;
    } else {
        let ev: Vec<String> = f.evidence.iter().map(triple).collect();
        writeln!(out, "          because {}", ev.join(", "))?;
    }
    Ok(())
}

impl Exporter for Human {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        writeln!(
            out,
            "pff: {} against {} rules of {}",
            info.data, info.rule_count, info.rules
        )
    }

    fn record(&mut self, out: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        let name = r.name.as_deref().unwrap_or("?");
        writeln!(out)?;
        if let Some(e) = &r.error {
            return writeln!(out, "record {} (line {}): FAILED: {e}", r.index, r.line);
        }
        writeln!(
            out,
            "record {} {name} (line {}): {} triples; rules: {} violated, {} satisfied, {} not applicable",
            r.index, r.line, r.triples, r.rules.violated, r.rules.satisfied, r.rules.not_applicable
        )?;
        let v = &r.violations;
        if v.total() == 0 {
            return writeln!(out, "  no violations");
        }
        writeln!(
            out,
            "  {} violations: {} error, {} warning, {} info",
            v.total(),
            v.error,
            v.warning,
            v.info
        )?;
        for f in r.findings.iter().take(self.top) {
            finding(out, f)?;
        }
        let shown = r.findings.len().min(self.top) as u64;
        if v.total() > shown {
            writeln!(
                out,
                "  ... {} more (--top N to list more, --format json for all)",
                v.total() - shown
            )?;
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write, s: &Summary) -> io::Result<()> {
        writeln!(out)?;
        write!(
            out,
            "{} record{}, {} triples, {} violations ({} error, {} warning, {} info)",
            s.records,
            if s.records == 1 { "" } else { "s" },
            s.triples,
            s.violations.total(),
            s.violations.error,
            s.violations.warning,
            s.violations.info
        )?;
        if s.failed_records > 0 {
            write!(out, "; {} record(s) FAILED to load", s.failed_records)?;
        }
        writeln!(out)
    }
}
