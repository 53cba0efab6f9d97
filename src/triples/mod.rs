//! Data to triples (`shared/spec/records.md`): JSON records, JSON Lines and TSV triple files;
//! interning and the indexes the engine joins on.

mod derive;
mod graph;
pub mod input;
pub mod json;
pub mod mapping;
pub mod one_graph;
pub mod table;
pub mod tsv;

use std::borrow::Cow;
use std::io;
use std::path::Path;

pub use derive::MappingKind;
pub use graph::{Graph, GraphBuilder, RelIndex, no_symbols};
pub use input::{RecordId, RecordName};
pub use mapping::{Mapping, RecordError, shape};

/// Receives triples by name (names already in their escaped form).
pub trait TripleSink {
    /// Receives one triple (names escaped).
    fn triple(&mut self, s: &str, r: &str, o: &str);

    /// Where a derived triple's value lives in the record: the node `node` holds it (`o`
    /// given), or would hold the slot's value (`o` none: an entry without it). Only the nested
    /// mappings call this; findings use it to point at the value to fix.
    fn origin(&mut self, _s: &str, _r: &str, _o: Option<&str>, _node: &str) {}
}

impl TripleSink for Vec<(String, String, String)> {
    fn triple(&mut self, s: &str, r: &str, o: &str) {
        self.push((s.to_string(), r.to_string(), o.to_string()));
    }
}

/// The escaped form of a name: TAB, CR, LF and backslash as `\t`, `\r`, `\n`, `\\`. This is
/// both the export form and the name rules are matched against.
pub fn escape(s: &str) -> Cow<'_, str> {
    if !s
        .bytes()
        .any(|b| matches!(b, b'\t' | b'\r' | b'\n' | b'\\'))
    {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        match c {
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\n' => out.push_str("\\n"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// The kinds of data file pff reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// One object or an array of objects.
    Json,
    /// One object a line.
    Jsonl,
    /// `subject<TAB>relation<TAB>object` lines; the whole file is one graph.
    Tsv,
    /// A table: a header row, then a record a row (RFC 4180, this delimiter byte); each
    /// row is a flat record whose keys are the header's names, empty cells left out.
    Csv(u8),
}

impl Format {
    /// The format a file name implies.
    pub fn from_path(path: &Path) -> Option<Format> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "json" => Some(Format::Json),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            "tsv" | "txt" | "nt" => Some(Format::Tsv),
            "csv" => Some(Format::Csv(b',')),
            _ => None,
        }
    }
}

/// Bad data: always names the file and, where there is one, the line and column.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("cannot read {path}")]
    /// A data file could not be read.
    Io {
        /// The file (or `-`).
        path: String,
        #[source]
        /// The operating system's error.
        source: io::Error,
    },
    #[error(
        "{path} is a directory: pass one .json, .jsonl or .tsv file, or check a folder of \
         records with `pff run` (a manifest with a task per file)"
    )]
    /// A folder was given as a data file.
    IsDirectory {
        /// The path given.
        path: String,
    },
    #[error(
        "cannot tell the format of {path} from its name; use a .json, .jsonl/.ndjson, .csv or \
         .tsv/.txt (triples) file, or say --input-format json|jsonl|csv|tsv"
    )]
    /// The data format could not be told from the file name.
    UnknownFormat {
        /// The path given.
        path: String,
    },
    #[error("{path}:{line}:{column}: invalid JSON: {message}")]
    /// A JSON document (or line) that does not parse.
    Json {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    #[error("{path}:{line}: {message}")]
    /// A line of a triples file or a table that is not one.
    Line {
        /// The file.
        path: String,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    #[error(
        "{path}:{line}: record {index} is {found}, not a JSON object; each record must be an object"
    )]
    /// A record that is not a JSON object.
    NotAnObject {
        /// The file.
        path: String,
        /// 1-based line where the record starts.
        line: usize,
        /// 0-based index of the record in its file.
        index: usize,
        /// What it is instead.
        found: &'static str,
    },
    #[error(
        "{path}:{line}: record {index} would give more than {limit} derived triples under \
         --mapping {mapping} (its values are nested too deep or too many); check this record \
         with --mapping plain, or split it"
    )]
    /// A record that would give more derived triples than the bound.
    TooManyDerived {
        /// The file.
        path: String,
        /// 1-based line where the record starts.
        line: usize,
        /// 0-based index of the record in its file.
        index: usize,
        /// The bound ([`crate::defaults::MAX_DERIVED_TRIPLES`]).
        limit: usize,
        /// The mapping that derives them.
        mapping: MappingKind,
    },
}

impl DataError {
    pub(crate) fn io(path: &str, source: io::Error) -> Self {
        if source.kind() == io::ErrorKind::IsADirectory {
            return DataError::IsDirectory {
                path: path.to_string(),
            };
        }
        DataError::Io {
            path: path.to_string(),
            source,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_round_trip_cases() {
        assert_eq!(escape("plain name"), "plain name");
        assert_eq!(escape("a\tb\nc\rd\\e"), "a\\tb\\nc\\rd\\\\e");
        assert!(matches!(escape("x"), Cow::Borrowed(_)));
    }

    #[test]
    fn formats_from_extensions() {
        assert_eq!(Format::from_path(Path::new("a.JSON")), Some(Format::Json));
        assert_eq!(
            Format::from_path(Path::new("a.ndjson")),
            Some(Format::Jsonl)
        );
        assert_eq!(Format::from_path(Path::new("train.txt")), Some(Format::Tsv));
        assert_eq!(
            Format::from_path(Path::new("a.csv")),
            Some(Format::Csv(b','))
        );
        assert_eq!(Format::from_path(Path::new("a.xls")), None);
    }
}
