//! JUnit XML: one test case per record, one failure per finding at or above `--fail-on`.

use std::fmt::Write as _;
use std::io::{self, Write};

use super::spool::Spool;
use super::{Exporter, RecordReport, RunInfo, Severity, Summary};
use crate::report::FailOn;

#[derive(Default)]
/// JUnit XML: a test case per record, a failure per record at `--fail-on` or above (CI systems show
/// them).
pub struct Junit {
    data: String,
    fail_on: Option<FailOn>,
    /// The test cases, written once the totals that open the document are known.
    cases: Spool,
    tests: usize,
    failures: usize,
    errors: usize,
}

/// Escapes text for XML attributes and content.
pub fn xml(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => o.push('\u{fffd}'),
            c => o.push(c),
        }
    }
    o
}

fn fails(fail_on: Option<FailOn>, s: Severity) -> bool {
    match fail_on.unwrap_or(FailOn::Error) {
        FailOn::Error => s >= Severity::Error,
        FailOn::Warning => s >= Severity::Warning,
        FailOn::Info => true,
        FailOn::Never => false,
    }
}

impl Exporter for Junit {
    fn begin(&mut self, _: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        self.data = info.data.clone();
        self.fail_on = info.fail_on;
        Ok(())
    }

    fn record(&mut self, _: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        self.tests += 1;
        let name = r.label();
        writeln!(
            self.cases,
            "    <testcase name=\"{}\" classname=\"{}\" time=\"0\">",
            xml(&name),
            xml(&self.data)
        )?;
        if let Some(e) = &r.error {
            self.errors += 1;
            writeln!(
                self.cases,
                "      <error message=\"{}\" type=\"record\"/>",
                xml(e)
            )?;
        }
        if r.error.is_none() && r.rules.truncated + r.rules.skipped > 0 {
            self.errors += 1;
            writeln!(
                self.cases,
                "      <error message=\"incomplete: {} rules skipped, {} cut short by the work \
                 bound or time budget\" type=\"incomplete\"/>",
                r.rules.skipped, r.rules.truncated
            )?;
        }
        let mut failed = false;
        let mut below = String::new();
        for f in &r.findings {
            let detail = f.top().map_or(String::new(), |t| {
                let ev: Vec<String> = t.evidence.iter().map(|e| e.to_string()).collect();
                format!(
                    "rule {} ({:.3}): {}\nevidence: {}",
                    t.rule_id,
                    t.confidence,
                    t.rule,
                    ev.join(", ")
                )
            });
            if fails(self.fail_on, f.severity) {
                failed = true;
                writeln!(
                    self.cases,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    xml(&f.message),
                    f.severity.name(),
                    xml(&detail)
                )?;
            } else {
                let _ = writeln!(below, "{} {:.3} {}", f.severity.name(), f.score, f.message);
            }
        }
        if failed {
            self.failures += 1;
        }
        if !below.is_empty() {
            writeln!(self.cases, "      <system-out>{}</system-out>", xml(&below))?;
        }
        self.cases.write_all(b"    </testcase>\n")
    }

    fn finish(&mut self, out: &mut dyn Write, _: &Summary) -> io::Result<()> {
        writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>")?;
        writeln!(
            out,
            "<testsuites name=\"pff\" tests=\"{}\" failures=\"{}\" errors=\"{}\">",
            self.tests, self.failures, self.errors
        )?;
        writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"{}\" skipped=\"0\" time=\"0\">",
            xml(&self.data),
            self.tests,
            self.failures,
            self.errors
        )?;
        self.cases.copy_to(out)?;
        writeln!(out, "  </testsuite>\n</testsuites>")
    }
}
