//! An Excel workbook, as the predecessor's users read results: a `Resultados` sheet with its
//! columns (MSISDN, Solicitação, Resultado, Observações: a row per record) and a `Findings`
//! sheet (a row per finding written). Rows go to temporary files as they come (constant
//! memory); the workbook is assembled at the end.

use std::io::{self, Write};

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, XlsxError};

use super::{Exporter, RecordReport, RunInfo, Summary};

/// The sheets' columns.
const RESULTS: [&str; 4] = ["MSISDN", "Solicitação", "Resultado", "Observações"];
const FINDINGS: [&str; 10] = [
    "MSISDN", "severity", "score", "kind", "subject", "relation", "expected", "present", "rules",
    "message",
];

/// An Excel workbook: a summary sheet, a sheet of records and a sheet of findings.
pub struct Xlsx {
    book: Workbook,
    rows: [u32; 2],
    error: Option<XlsxError>,
}

impl Default for Xlsx {
    fn default() -> Self {
        Self {
            book: Workbook::new(),
            rows: [0, 0],
            error: None,
        }
    }
}

fn io_err(e: XlsxError) -> io::Error {
    io::Error::other(e)
}

/// The most characters a cell holds (Excel's limit).
const MAX_CELL: usize = 32_767;

/// Text as a cell takes it: control characters (which XML cannot hold) become U+FFFD; text
/// over Excel's 32,767 characters is cut, and the cell says by how much.
fn cell(s: &str) -> String {
    let n = s.chars().count();
    let note = (n > MAX_CELL).then(|| format!(" [cut: {} more characters]", n - MAX_CELL + 40));
    let keep = note.as_ref().map_or(n, |_| MAX_CELL - 40);
    let mut out: String = s
        .chars()
        .take(keep)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if let Some(note) = note {
        out.push_str(&note);
    }
    out
}

/// A value a cell holds: text or a number.
enum Value<'a> {
    Text(&'a str),
    Number(f64),
}

impl Xlsx {
    /// Appends a row to sheet `sheet` (0: results, 1: findings).
    fn row(&mut self, sheet: usize, values: &[Value<'_>]) -> Result<(), XlsxError> {
        let row = self.rows[sheet];
        let ws = self.book.worksheet_from_index(sheet)?;
        for (col, v) in values.iter().enumerate() {
            let col = col as u16;
            match v {
                Value::Text(s) => ws.write_string(row, col, cell(s))?,
                Value::Number(n) => ws.write_number(row, col, *n)?,
            };
        }
        self.rows[sheet] += 1;
        Ok(())
    }

    fn start(&mut self) -> Result<(), XlsxError> {
        // A fixed creation date: the same inputs give the same bytes, as every report does.
        let epoch = ExcelDateTime::from_ymd(2000, 1, 1)?;
        self.book
            .set_properties(&DocProperties::new().set_creation_datetime(&epoch));
        let bold = Format::new().set_bold();
        for (name, header) in [("Resultados", &RESULTS[..]), ("Findings", &FINDINGS[..])] {
            let ws = self.book.add_worksheet_with_constant_memory()?;
            ws.set_name(name)?;
            for (col, h) in header.iter().enumerate() {
                ws.write_string_with_format(0, col as u16, *h, &bold)?;
            }
            ws.set_freeze_panes(1, 0)?;
        }
        self.rows = [1, 1];
        Ok(())
    }

    fn add(&mut self, r: &RecordReport) -> Result<(), XlsxError> {
        // The task key people search for (`pff run`), else the record's own name.
        let name = r
            .task
            .clone()
            .or_else(|| r.name.clone())
            .unwrap_or_else(|| format!("record {}", r.index));
        let mut cut = super::CutShort::default();
        cut.add_record(&r.rules);
        let (result, observations) = super::outcome(r.error.as_deref(), &r.finding_counts, &cut);
        self.row(
            0,
            &[
                Value::Text(&name),
                Value::Text(r.sequence.as_deref().unwrap_or("validate")),
                Value::Text(result),
                Value::Text(&observations),
            ],
        )?;
        for f in &r.findings {
            // A culprit: the value to fix is present, what it should be is not known.
            let (t, expected, present) = match &f.culprit {
                Some(c) => (c, "", c.object.clone()),
                None => (&f.missing, f.missing.object.as_str(), f.present.join(", ")),
            };
            self.row(
                1,
                &[
                    Value::Text(&name),
                    Value::Text(f.severity.name()),
                    Value::Number(f.score),
                    Value::Text(f.kind.as_str()),
                    Value::Text(&t.subject),
                    Value::Text(&t.relation),
                    Value::Text(expected),
                    Value::Text(&present),
                    Value::Number(f.rule_count as f64),
                    Value::Text(&f.message),
                ],
            )?;
        }
        Ok(())
    }
}

impl Exporter for Xlsx {
    fn begin(&mut self, _: &mut dyn Write, _: &RunInfo) -> io::Result<()> {
        self.start().map_err(io_err)
    }

    fn record(&mut self, _: &mut dyn Write, r: &RecordReport) -> io::Result<()> {
        if self.error.is_none()
            && let Err(e) = self.add(r)
        {
            self.error = Some(e);
        }
        Ok(())
    }

    fn finish(&mut self, out: &mut dyn Write, _: &Summary) -> io::Result<()> {
        if let Some(e) = self.error.take() {
            return Err(io_err(e));
        }
        let bytes = self.book.save_to_buffer().map_err(io_err)?;
        out.write_all(&bytes)
    }
}

#[cfg(test)]
mod cell_tests {
    use super::*;

    #[test]
    fn long_text_is_cut_to_what_a_cell_holds_and_says_so() {
        let long = "x".repeat(40_000);
        let c = cell(&long);
        assert!(c.chars().count() <= MAX_CELL, "{}", c.len());
        assert!(c.ends_with("[cut: 7273 more characters]"), "{c:.0}");
        assert_eq!(cell("a\u{1b}b"), "a\u{fffd}b");
    }
}
