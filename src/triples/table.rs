//! Tables (CSV and other delimited text, RFC 4180): a header row names the columns, each
//! further row is a flat record whose keys are those names (`docs/records.md`, "Tables").
//! Read a row at a time: a table is never held whole. A row that cannot be a record (another
//! number of cells than the header, text that is not UTF-8) fails alone, named by line and
//! field; a header that cannot name columns fails the source.

use std::io::BufRead;
use std::sync::Arc;

use super::DataError;
use super::input::RecordId;

/// One row as read: its cells with the header's names, or why it is not a record.
pub enum Row {
    /// The header's names and the row's cells.
    Cells(Arc<[String]>, csv::StringRecord),
    /// Why the row is not a record (ragged, not UTF-8).
    Bad(DataError),
}

/// The UTF-8 byte order mark, which spreadsheet programs write first.
const BOM: &str = "\u{feff}";

/// Reads the table in `reader` (fields split on `delimiter`) and hands `each` its rows in
/// order, at most `chunk` at a time, each with its 0-based index and the line it starts on.
pub fn read<E: From<DataError>>(
    reader: impl BufRead,
    delimiter: u8,
    label: &str,
    chunk: usize,
    mut each: impl FnMut(Vec<(RecordId, Row)>) -> Result<(), E>,
) -> Result<(), E> {
    let ends = LineEnds::default();
    let mut csv = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        .from_reader(Counted {
            inner: reader,
            at: 0,
            ends: ends.clone(),
        });
    let io = |e: csv::Error| DataError::io(label, std::io::Error::other(e.to_string()));
    let mut record = csv::ByteRecord::new();
    if !csv.read_byte_record(&mut record).map_err(io)? {
        return Ok(());
    }
    let header = header(&record, label)?;
    let mut rows = Vec::with_capacity(chunk.min(4096));
    let mut index = 0;
    while csv.read_byte_record(&mut record).map_err(io)? {
        // (Blank lines are no rows: the csv crate skips them. `""` is a row of one empty cell.)
        let line = record.position().map_or(0, |p| ends.line_at(p.byte()));
        rows.push((RecordId { index, line }, row(&header, &record, label, line)));
        index += 1;
        if rows.len() >= chunk {
            each(std::mem::take(&mut rows))?;
        }
    }
    if !rows.is_empty() {
        each(rows)?;
    }
    Ok(())
}

/// The line ends read so far and not yet behind a record: the csv crate skips blank lines
/// without counting them, so pff counts lines itself. A record's reported offset is where its
/// blank lines (if any) begin; its line is the one after them. Memory: the line ends of the
/// reader's buffer and of one record.
#[derive(Clone, Default)]
struct LineEnds(std::rc::Rc<std::cell::RefCell<Ends>>);

/// The line ends not yet behind a record (offset, byte), and the line feeds that are.
type Ends = (std::collections::VecDeque<(u64, u8)>, usize);

impl LineEnds {
    /// The 1-based line of the first byte at or after `offset` that is not a line end.
    fn line_at(&self, offset: u64) -> usize {
        let mut guard = self.0.borrow_mut();
        let (ends, newlines) = &mut *guard;
        let mut at = offset;
        while let Some(&(o, b)) = ends.front() {
            if o <= at {
                if o == at {
                    at += 1;
                }
                *newlines += usize::from(b == b'\n');
                ends.pop_front();
            } else {
                break;
            }
        }
        *newlines + 1
    }
}

/// A reader that notes where line ends are.
struct Counted<R> {
    inner: R,
    at: u64,
    ends: LineEnds,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut ends = self.ends.0.borrow_mut();
        for (i, &b) in buf[..n].iter().enumerate() {
            if b == b'\n' || b == b'\r' {
                ends.0.push_back((self.at + i as u64, b));
            }
        }
        self.at += n as u64;
        Ok(n)
    }
}

/// The column names: UTF-8, a byte order mark dropped, each named and named once.
fn header(record: &csv::ByteRecord, label: &str) -> Result<Arc<[String]>, DataError> {
    let bad = |message: String| DataError::Line {
        path: label.to_string(),
        line: 1,
        message,
    };
    let mut names: Vec<String> = Vec::with_capacity(record.len());
    for (i, field) in record.iter().enumerate() {
        let name = std::str::from_utf8(field)
            .map_err(|_| bad(format!("column {} of the header is not UTF-8", i + 1)))?;
        let name = if i == 0 {
            name.strip_prefix(BOM).unwrap_or(name)
        } else {
            name
        };
        if name.trim().is_empty() {
            return Err(bad(format!(
                "column {} of the header has no name; every column needs one (the header row \
                 names the keys of each row's record)",
                i + 1
            )));
        }
        if let Some(first) = names.iter().position(|n| n == name) {
            return Err(bad(format!(
                "columns {} and {} of the header are both `{name}`; name each column once",
                first + 1,
                i + 1
            )));
        }
        names.push(name.to_string());
    }
    Ok(names.into())
}

/// A row as a record, or why it cannot be one.
fn row(header: &Arc<[String]>, record: &csv::ByteRecord, label: &str, line: usize) -> Row {
    let bad = |message: String| {
        Row::Bad(DataError::Line {
            path: label.to_string(),
            line,
            message,
        })
    };
    if record.len() != header.len() {
        return bad(format!(
            "this row has {} cells and the header {} columns; quote a cell that holds the \
             delimiter, a quote or a line break (\"a, b\")",
            record.len(),
            header.len()
        ));
    }
    match csv::StringRecord::from_byte_record(record.clone()) {
        Ok(cells) => Row::Cells(header.clone(), cells),
        Err(e) => {
            let field = e.utf8_error().field();
            bad(format!(
                "field {} (`{}`) is not UTF-8; save the table as UTF-8",
                field + 1,
                header.get(field).map_or("?", String::as_str)
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A row's (column, cell) pairs, or its error.
    type Cells = Result<Vec<(String, String)>, String>;

    /// The rows of `text` as (line, cells) or (line, error).
    fn rows(text: &str, delimiter: u8) -> Vec<(usize, Cells)> {
        let mut out = Vec::new();
        read::<DataError>(text.as_bytes(), delimiter, "t.csv", 2, |rows| {
            for (id, r) in rows {
                out.push((
                    id.line,
                    match r {
                        Row::Cells(h, c) => Ok(h
                            .iter()
                            .zip(c.iter())
                            .map(|(h, c)| (h.clone(), c.to_string()))
                            .collect()),
                        Row::Bad(e) => Err(e.to_string()),
                    },
                ));
            }
            Ok(())
        })
        .unwrap();
        out
    }

    fn cells(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn quotes_line_breaks_delimiters_bom_and_empty_cells() {
        let text =
            "\u{feff}id,name,note\n1,\"Smith, J\",\"said \"\"hi\"\"\"\n2,,\"two\nlines\"\n\n3,x,\n";
        let got = rows(text, b',');
        assert_eq!(
            got,
            vec![
                (
                    2,
                    Ok(cells(&[
                        ("id", "1"),
                        ("name", "Smith, J"),
                        ("note", "said \"hi\"")
                    ]))
                ),
                (
                    3,
                    Ok(cells(&[("id", "2"), ("name", ""), ("note", "two\nlines")]))
                ),
                (6, Ok(cells(&[("id", "3"), ("name", "x"), ("note", "")]))),
            ]
        );
    }

    #[test]
    fn ragged_and_non_utf8_rows_fail_alone_and_bad_headers_fail_the_table() {
        let got = rows("a;b\n1;2;3\n4;5\n", b';');
        assert!(
            matches!(&got[0].1, Err(e) if e.contains("t.csv:2: this row has 3 cells and the header 2"))
        );
        assert_eq!(got[1], (3, Ok(cells(&[("a", "4"), ("b", "5")]))));
        let mut bytes = b"a,b\n1,\xff\n".to_vec();
        bytes.extend_from_slice(b"2,3\n");
        let mut seen = Vec::new();
        read::<DataError>(&bytes[..], b',', "t.csv", 8, |rows| {
            for (id, r) in rows {
                seen.push((id.line, matches!(r, Row::Bad(ref e) if e.to_string().contains("field 2 (`b`) is not UTF-8"))));
            }
            Ok(())
        })
        .unwrap();
        assert_eq!(seen, vec![(2, true), (3, false)]);
        for (header, why) in [
            ("a,,c\n", "column 2 of the header has no name"),
            ("a,b,a\n", "columns 1 and 3"),
        ] {
            let e = read::<DataError>(header.as_bytes(), b',', "t.csv", 8, |_| Ok(())).unwrap_err();
            assert!(e.to_string().contains(why), "{e}");
        }
    }

    /// A naive reader of RFC 4180 for the property test: fields in double quotes may hold
    /// delimiters, quotes (doubled) and line breaks.
    fn naive(text: &str, d: char) -> Vec<Vec<String>> {
        let mut rows = vec![];
        let (mut row, mut field, mut quoted, mut chars) =
            (vec![], String::new(), false, text.chars().peekable());
        while let Some(c) = chars.next() {
            match (quoted, c) {
                (true, '"') if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                (true, '"') => quoted = false,
                (true, c) => field.push(c),
                (false, '"') if field.is_empty() => quoted = true,
                (false, c) if c == d => row.push(std::mem::take(&mut field)),
                (false, '\n') => {
                    row.push(std::mem::take(&mut field));
                    rows.push(std::mem::take(&mut row));
                }
                (false, c) => field.push(c),
            }
        }
        if !field.is_empty() || !row.is_empty() {
            row.push(field);
            rows.push(row);
        }
        rows
    }

    /// A cell as a writer following RFC 4180 writes it.
    fn quote(cell: &str, d: char) -> String {
        if cell.contains([d, '"', '\n', '\r']) || cell.is_empty() {
            format!("\"{}\"", cell.replace('"', "\"\""))
        } else {
            cell.to_string()
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]
        /// Any table written by the RFC is read back cell for cell, as the naive reader reads
        /// it, with comma, semicolon and TAB delimiters.
        #[test]
        fn tables_read_back_as_written(
            d in prop_oneof![Just(','), Just(';'), Just('\t')],
            width in 1usize..5,
            table in proptest::collection::vec(
                proptest::collection::vec("[a-c ,;\"\t\n]{0,6}", 5), 1..6),
        ) {
            let header: Vec<String> = (0..width).map(|i| format!("c{i}")).collect();
            let body: Vec<Vec<String>> = table.iter().map(|r| r[..width].to_vec()).collect();
            let mut text = header.join(&d.to_string()) + "\n";
            for r in &body {
                let line: Vec<String> = r.iter().map(|c| quote(c, d)).collect();
                text.push_str(&line.join(&d.to_string()));
                text.push('\n');
            }
            let naive_rows = naive(&text, d);
            prop_assert_eq!(&naive_rows[1..], &body[..]);
            let got: Vec<Vec<String>> = rows(&text, d as u8)
                .into_iter()
                .map(|(_, r)| r.unwrap().into_iter().map(|(_, c)| c).collect())
                .collect();
            prop_assert_eq!(got, body);
        }
    }
}
