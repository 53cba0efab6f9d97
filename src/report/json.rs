//! Machine formats: one JSON document, or JSON Lines with one finding a line.

use std::io::{self, Write};

use serde::Serialize;

use super::{Exporter, RecordReport, RunInfo, Summary};

/// The writer's own error when there is one (a closed pipe stays a `BrokenPipe`).
fn to_io(e: serde_json::Error) -> io::Error {
    io::Error::from(e)
}

/// `{"run": {...}, "records": [...], "summary": {...}}`, written record by record.
#[derive(Default)]
pub struct Json {
    first: bool,
}

impl Exporter for Json {
    fn begin(&mut self, out: &mut dyn Write, info: &RunInfo) -> io::Result<()> {
        self.first = true;
        out.write_all(b"{\"run\":")?;
        serde_json::to_writer(&mut *out, info).map_err(to_io)?;
        out.write_all(b",\"records\":[")
    }

    fn record(&mut self, out: &mut dyn Write, report: &RecordReport) -> io::Result<()> {
        if !self.first {
            out.write_all(b",")?;
        }
        self.first = false;
        out.write_all(b"\n")?;
        serde_json::to_writer(&mut *out, report).map_err(to_io)
    }

    fn finish(&mut self, out: &mut dyn Write, summary: &Summary) -> io::Result<()> {
        out.write_all(b"\n],\"summary\":")?;
        serde_json::to_writer(&mut *out, summary).map_err(to_io)?;
        out.write_all(b"}\n")
    }
}

/// One line per finding: `{"record":..,"record_name":..,<finding>}`; a failed record gives one
/// line with its `error`.
pub struct JsonLines;

#[derive(Serialize)]
struct Line<'a, T: Serialize> {
    /// The task the record came from (`pff run`).
    #[serde(skip_serializing_if = "Option::is_none")]
    task: Option<&'a str>,
    record: usize,
    record_name: Option<&'a str>,
    #[serde(flatten)]
    item: T,
}

#[derive(Serialize)]
struct Failure<'a> {
    line: usize,
    error: &'a str,
}

/// One line: the record's task, index and name, then `item`'s fields.
fn write_line(out: &mut dyn Write, r: &RecordReport, item: impl Serialize) -> io::Result<()> {
    let line = Line {
        task: r.task.as_deref(),
        record: r.index,
        record_name: r.name.as_deref(),
        item,
    };
    serde_json::to_writer(&mut *out, &line).map_err(to_io)?;
    out.write_all(b"\n")
}

/// The line of a record whose rules were cut short: its findings (if any) follow.
#[derive(Serialize)]
struct Incomplete {
    line: usize,
    incomplete: bool,
    rules_skipped: usize,
    rules_truncated: usize,
}

impl Exporter for JsonLines {
    fn begin(&mut self, _: &mut dyn Write, _: &RunInfo) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, out: &mut dyn Write, report: &RecordReport) -> io::Result<()> {
        if let Some(error) = &report.error {
            let item = Failure {
                line: report.line,
                error,
            };
            write_line(out, report, item)?;
        } else if report.rules.skipped + report.rules.truncated > 0 {
            let item = Incomplete {
                line: report.line,
                incomplete: true,
                rules_skipped: report.rules.skipped,
                rules_truncated: report.rules.truncated,
            };
            write_line(out, report, item)?;
        }
        for f in &report.findings {
            write_line(out, report, f)?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &mut dyn Write, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}
