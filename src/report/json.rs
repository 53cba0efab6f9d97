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

impl Exporter for JsonLines {
    fn begin(&mut self, _: &mut dyn Write, _: &RunInfo) -> io::Result<()> {
        Ok(())
    }

    fn record(&mut self, out: &mut dyn Write, report: &RecordReport) -> io::Result<()> {
        let name = report.name.as_deref();
        if let Some(error) = &report.error {
            let item = Failure {
                line: report.line,
                error,
            };
            serde_json::to_writer(
                &mut *out,
                &Line {
                    record: report.index,
                    record_name: name,
                    item,
                },
            )
            .map_err(to_io)?;
            out.write_all(b"\n")?;
        }
        for f in &report.findings {
            serde_json::to_writer(
                &mut *out,
                &Line {
                    record: report.index,
                    record_name: name,
                    item: f,
                },
            )
            .map_err(to_io)?;
            out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn finish(&mut self, _: &mut dyn Write, _: &Summary) -> io::Result<()> {
        Ok(())
    }
}
