//! Data inputs: which format a source is in (decided here, and only here) and its records,
//! read from a file or from bytes in chunks; each record is mapped to triples by the caller,
//! where it wants (in parallel for `pff validate`, in a worker for `pff run`, in order for
//! `pff triples`).

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use super::json::{self, Json};
use super::mapping::{Mapping, RecordError};
use super::{DataError, Format, GraphBuilder, table, tsv};
use crate::rules::Symbols;

/// Where a record is in its source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordId {
    /// 0-based record index in its source.
    pub index: usize,
    /// 1-based line where the record starts.
    pub line: usize,
}

/// A record's place and name (its root node's id, or the source for a triples file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordName {
    /// Where the record is.
    pub id: RecordId,
    /// Its root node's name (its id), or the file's name for triples.
    pub name: String,
}

/// The format of the source named `name` (a path or a URL): `given` when the user said it,
/// else what the name's extension implies, else `fallback` (`pff run` takes JSON for sources
/// named by a key or an API path), else an error that says how to name it.
pub fn format_of(
    name: &str,
    given: Option<Format>,
    fallback: Option<Format>,
) -> Result<Format, DataError> {
    let path = name.split(['?', '#']).next().unwrap_or(name);
    given
        .or_else(|| Format::from_path(Path::new(path)))
        .or(fallback)
        .ok_or_else(|| DataError::UnknownFormat {
            path: name.to_string(),
        })
}

/// The name that means standard input.
pub const STDIN: &str = "-";

/// Opens a data file for [`read_records`] (`-`: standard input), refusing a folder.
pub fn open(path: &Path) -> Result<Box<dyn BufRead + Send>, DataError> {
    let shown = path.display().to_string();
    if shown == STDIN {
        return Ok(Box::new(BufReader::with_capacity(
            1 << 20,
            std::io::stdin(),
        )));
    }
    if path.is_dir() {
        return Err(DataError::IsDirectory { path: shown });
    }
    let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
    Ok(Box::new(BufReader::with_capacity(1 << 20, file)))
}

/// Opens a data file with its format ([`file_format`]); on standard input without a given
/// format, one JSON document (its first line is not a whole JSON value, as in a
/// pretty-printed record) is told from JSON Lines by looking at the first line.
pub fn open_data(
    path: &Path,
    given: Option<Format>,
) -> Result<(Box<dyn BufRead + Send>, Format), DataError> {
    let format = file_format(path, given)?;
    let mut reader = open(path)?;
    if path.as_os_str() == STDIN && given.is_none() {
        let shown = path.display().to_string();
        let head = reader.fill_buf().map_err(|e| DataError::io(&shown, e))?;
        if is_one_document(head) {
            return Ok((reader, Format::Json));
        }
    }
    Ok((reader, format))
}

/// Whether `head` (the start of a stream) opens a multi-line JSON document: its first
/// non-blank line is not a whole JSON value.
fn is_one_document(head: &[u8]) -> bool {
    let text = head.trim_ascii_start();
    // No line end in sight: a long first line (JSON Lines) or one line in all.
    let Some(end) = text.iter().position(|&b| b == b'\n') else {
        return false;
    };
    let first = text[..end].trim_ascii();
    matches!(first.first(), Some(b'{' | b'[')) && json::parse(first).is_err()
}

/// The format of a data file to read (`pff validate`, `pff triples`): given, else its
/// extension's; standard input (`-`) is JSON Lines unless told otherwise. A folder is refused
/// first, with a hint (its name says nothing about a format).
pub fn file_format(path: &Path, given: Option<Format>) -> Result<Format, DataError> {
    let shown = path.display().to_string();
    if shown == STDIN {
        return Ok(given.unwrap_or(Format::Jsonl));
    }
    if path.is_dir() {
        return Err(DataError::IsDirectory { path: shown });
    }
    format_of(&shown, given, None)
}

/// One record as read, not yet mapped to triples.
pub struct RawRecord<'a, 's> {
    /// Where the record is.
    pub id: RecordId,
    body: Body<'a, 's>,
}

enum Body<'a, 's> {
    /// A record of a JSON document.
    Value(&'a Json<'a>),
    /// A JSON Lines line, parsed when mapped.
    Line(Vec<u8>),
    /// A table's row: the header's names and the row's cells (as many).
    Row(std::sync::Arc<[String]>, csv::StringRecord),
    /// A table's row that cannot be a record (ragged, not UTF-8): why.
    Bad(DataError),
    /// A triples file, read whole into one graph.
    Graph(GraphBuilder<'s>),
}

impl<'s> RawRecord<'_, 's> {
    /// The record's triples over `symbols` and its name (`label`, the source's name, for a
    /// triples file); an error when the line is not JSON or the value not an object.
    pub fn triples(
        self,
        symbols: &'s Symbols,
        mapping: &Mapping,
        label: &str,
    ) -> Result<(GraphBuilder<'s>, String), DataError> {
        if let Body::Graph(b) = self.body {
            return Ok((b, label.to_string()));
        }
        let mut b = GraphBuilder::new(symbols);
        let name = self.triples_into(&mut b, mapping, label)?;
        Ok((b, name))
    }

    /// The record's triples added to `b` (a file read as one graph), and its name; on an
    /// error, what the record added so far stays in `b` (see [`GraphBuilder::truncate`]).
    pub fn triples_into(
        self,
        b: &mut GraphBuilder<'_>,
        mapping: &Mapping,
        label: &str,
    ) -> Result<String, DataError> {
        let RecordId { index, line } = self.id;
        let mut map = |v: &Json<'_>| match mapping.record(v, index, b) {
            Ok(name) => Ok(name),
            Err(RecordError::NotAnObject(found)) => Err(DataError::NotAnObject {
                path: label.to_string(),
                line,
                index,
                found,
            }),
            Err(RecordError::TooManyDerived { limit }) => Err(DataError::TooManyDerived {
                path: label.to_string(),
                line,
                index,
                limit,
                mapping: mapping.kind,
            }),
        };
        match self.body {
            Body::Value(v) => map(v),
            Body::Line(text) => {
                let v = json::parse(&text).map_err(|e| e.into_data_error(label, &text, line))?;
                map(&v)
            }
            Body::Row(header, cells) => {
                // Empty cells are absent values, as a missing key is in JSON.
                let pairs = header
                    .iter()
                    .zip(cells.iter())
                    .filter(|(_, c)| !c.is_empty())
                    .map(|(h, c)| {
                        (
                            std::borrow::Cow::Borrowed(h.as_str()),
                            Json::Str(std::borrow::Cow::Borrowed(c)),
                        )
                    })
                    .collect();
                map(&Json::Obj(pairs))
            }
            Body::Bad(e) => Err(e),
            Body::Graph(g) => {
                use super::TripleSink as _;
                for (s, r, o) in g.unique_triples() {
                    b.triple(s, r, o);
                }
                Ok(label.to_string())
            }
        }
    }
}

/// Reads `reader` as `format` and hands `each` its records in input order, at most `chunk` at
/// a time. Errors of the source as a whole (unreadable, a JSON document that does not parse,
/// a bad triples line) end the reading; a bad JSON Lines record is the caller's to judge when
/// it maps it.
pub fn read_records<'s, E: From<DataError>>(
    mut reader: impl BufRead,
    format: Format,
    label: &str,
    symbols: &'s Symbols,
    chunk: usize,
    mut each: impl for<'a> FnMut(Vec<RawRecord<'a, 's>>) -> Result<(), E>,
) -> Result<(), E> {
    let chunk = chunk.max(1);
    match format {
        Format::Tsv => {
            let mut b = GraphBuilder::new(symbols);
            tsv::read(label, reader, &mut b)?;
            each(vec![RawRecord {
                id: RecordId { index: 0, line: 1 },
                body: Body::Graph(b),
            }])
        }
        Format::Json => {
            let text = read_document(&mut reader, label)?;
            let doc = json::parse(&text).map_err(|e| e.into_data_error(label, &text, 1))?;
            let records = json::records(&doc);
            for (c, part) in records.chunks(chunk).enumerate() {
                let raw = part
                    .iter()
                    .enumerate()
                    .map(|(i, v)| RawRecord {
                        id: RecordId {
                            index: c * chunk + i,
                            line: 1,
                        },
                        body: Body::Value(v),
                    })
                    .collect();
                each(raw)?;
            }
            Ok(())
        }
        Format::Csv(delimiter) => table::read(reader, delimiter, label, chunk, |rows| {
            let raw = rows
                .into_iter()
                .map(|(id, row)| RawRecord {
                    id,
                    body: match row {
                        table::Row::Cells(header, cells) => Body::Row(header, cells),
                        table::Row::Bad(e) => Body::Bad(e),
                    },
                })
                .collect();
            each(raw)
        }),
        Format::Jsonl => {
            let mut lines = json::JsonLines::new(reader);
            loop {
                let raw: Vec<RawRecord<'_, 's>> = lines
                    .by_ref()
                    .take(chunk)
                    .map(|item| {
                        item.map(|(index, line, text)| RawRecord {
                            id: RecordId { index, line },
                            body: Body::Line(text),
                        })
                    })
                    .collect::<Result<_, _>>()
                    .map_err(|e| DataError::io(label, e))?;
                if raw.is_empty() {
                    return Ok(());
                }
                each(raw)?;
            }
        }
    }
}

/// A JSON document read whole, refused beyond [`crate::defaults::MAX_JSON_DOCUMENT`] (with
/// the fix: JSON Lines are streamed).
fn read_document(reader: &mut impl BufRead, label: &str) -> Result<Vec<u8>, DataError> {
    use std::io::Read as _;
    let mut text = Vec::new();
    let max = crate::defaults::MAX_JSON_DOCUMENT;
    reader
        .take(max + 1)
        .read_to_end(&mut text)
        .map_err(|e| DataError::io(label, e))?;
    if text.len() as u64 > max {
        return Err(DataError::io(
            label,
            std::io::Error::other(format!(
                "a JSON document over {} MiB is not read whole; write it as JSON Lines (one \
                 record a line), which is streamed",
                max >> 20
            )),
        ));
    }
    Ok(text)
}

/// Reads a data file into triples in arrival order (for `pff triples`), calling `sink` once
/// per record with its builder; any bad record ends the reading.
pub fn for_each_record_triples<E: From<DataError>>(
    path: &Path,
    format: Option<Format>,
    mapping: &Mapping,
    mut sink: impl FnMut(&GraphBuilder<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let shown = path.display().to_string();
    let (reader, format) = open_data(path, format)?;
    let syms = super::no_symbols();
    read_records(reader, format, &shown, syms, 1, |raw| {
        for r in raw {
            let (b, _) = r.triples(syms, mapping, &shown)?;
            sink(&b)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_format_is_decided_in_one_place() {
        assert_eq!(format_of("a.JSONL", None, None).unwrap(), Format::Jsonl);
        assert_eq!(
            format_of("https://h/lines/1.tsv?x=1", None, None).unwrap(),
            Format::Tsv
        );
        assert_eq!(
            format_of("a.json", Some(Format::Tsv), None).unwrap(),
            Format::Tsv
        );
        assert!(format_of("data/test", None, None).is_err());
        assert_eq!(
            format_of("https://h/lines/5511", None, Some(Format::Json)).unwrap(),
            Format::Json
        );
    }

    #[test]
    fn records_come_in_chunks_in_input_order_from_bytes() {
        let syms = crate::triples::no_symbols();
        let text = b"{\"id\":\"a\"}\n\n{\"id\":\"b\"}\nnot json\n{\"id\":\"c\"}\n";
        let mut seen = Vec::new();
        read_records(&text[..], Format::Jsonl, "x.jsonl", syms, 2, |raw| {
            seen.push(raw.len());
            for r in raw {
                let id = r.id;
                let name = r
                    .triples(syms, &Mapping::default(), "x.jsonl")
                    .map(|(_, n)| n);
                seen.push(id.index * 100 + id.line);
                seen.push(usize::from(name.is_ok()));
            }
            Ok::<(), DataError>(())
        })
        .unwrap();
        assert_eq!(seen, vec![2, 1, 1, 103, 1, 2, 204, 0, 305, 1]);
    }
}
