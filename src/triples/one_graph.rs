//! A file's records read into one graph (`--one-graph`): a value shared between records is one
//! node, as `pff learn` sees the file, so rules that go through other records can fire; each
//! record (row) keeps the nodes it owns, so that its findings stay its own
//! ([`crate::engine::rows`]).
//!
//! A node belongs to the first record that gives it a triple as subject (a record's root node,
//! its anonymous entries; a node two records describe is the first one's). Memory grows with
//! the file: every record's triples are held until the file is checked (about 50 bytes a
//! triple with its indexes, and each distinct name once), where a file read record by record
//! holds one record at a time.

use std::io::BufRead;

use rustc_hash::FxHashSet;

use super::input::{RecordId, RecordName, read_records};
use super::{DataError, Format, GraphBuilder, Mapping};
use crate::rules::{EntId, Symbols};

/// Records handed over at once while reading (they are mapped in order into one builder).
const CHUNK: usize = 256;

/// One record of a file read as one graph.
#[derive(Debug)]
pub enum Row {
    /// A record read: its place and name, and the subjects it owns (ascending).
    Read {
        /// Where the record is and its root node's name.
        record: RecordName,
        /// The nodes it owns: the subjects of its triples no earlier record gave.
        subjects: Vec<EntId>,
        /// Its distinct triples.
        triples: usize,
    },
    /// A record that cannot be read (not JSON, not an object, a ragged row): it fails alone.
    Failed {
        /// Where the record is.
        id: RecordId,
        /// Why.
        error: DataError,
    },
}

/// A file's records as one graph, and its rows in input order.
pub struct OneGraph<'s> {
    /// Every record's triples.
    pub graph: GraphBuilder<'s>,
    /// The records, in input order.
    pub rows: Vec<Row>,
}

/// Whether a file of `format` is read as one graph under `mapping`: a triples file is one
/// graph anyway, checked whole as before.
pub fn applies(mapping: &Mapping, format: Format) -> bool {
    mapping.one_graph && format != Format::Tsv
}

/// Reads `reader` (`format`, named `label`) into one graph over `symbols` under `mapping`.
/// Errors of the source as a whole end the reading; a bad record fails alone.
pub fn read<'s>(
    reader: impl BufRead,
    format: Format,
    label: &str,
    symbols: &'s Symbols,
    mapping: &Mapping,
) -> Result<OneGraph<'s>, DataError> {
    let mut graph = GraphBuilder::new(symbols);
    let mut rows = Vec::new();
    let mut owned: FxHashSet<EntId> = FxHashSet::default();
    read_records(reader, format, label, symbols, CHUNK, |raw| {
        for r in raw {
            let id = r.id;
            let mark = graph.mark();
            match r.triples_into(&mut graph, mapping, label) {
                Ok(name) => {
                    let subjects = graph
                        .subjects_since(mark)
                        .into_iter()
                        .filter(|s| owned.insert(*s))
                        .collect();
                    let record = RecordName { id, name };
                    let triples = graph.count_since(mark);
                    rows.push(Row::Read {
                        record,
                        subjects,
                        triples,
                    });
                }
                Err(error) => {
                    graph.truncate(mark);
                    rows.push(Row::Failed { id, error });
                }
            }
        }
        Ok::<(), DataError>(())
    })?;
    Ok(OneGraph { graph, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::triples::no_symbols;

    /// Rows share values, own their nodes, and a bad row fails alone without leaving triples.
    #[test]
    fn rows_share_values_and_own_their_nodes() {
        let text = "{\"id\":\"a\",\"zip\":\"1\",\"city\":\"x\"}\nnot json\n{\"id\":\"b\",\"zip\":\"1\"}\n[1]\n{\"id\":\"a\",\"zip\":\"2\"}\n";
        let m = Mapping::default();
        let one = read(text.as_bytes(), Format::Jsonl, "t.jsonl", no_symbols(), &m).unwrap();
        assert_eq!(one.rows.len(), 5);
        let names: Vec<String> = one
            .rows
            .iter()
            .map(|r| match r {
                Row::Read {
                    record, subjects, ..
                } => format!("{}:{}", record.name, subjects.len()),
                Row::Failed { id, .. } => format!("failed@{}", id.line),
            })
            .collect();
        // The fifth record describes `a` again: the node is the first record's.
        assert_eq!(names, ["a:1", "failed@2", "b:1", "failed@4", "a:0"]);
        let g = one.graph.finish();
        let zip = g.relation_id("zip").unwrap();
        let one_ = g.entity_id("1").unwrap();
        assert_eq!(
            g.rel(zip).with_object(one_).len(),
            2,
            "the value 1 is one node"
        );
        assert_eq!(g.len(), 4);
    }
}
