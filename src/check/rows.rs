//! The rows of a file read as one graph (`--one-graph`, [`crate::triples::one_graph`]) checked
//! a bounded number at a time, each handed on in input order as soon as its batch is done.
//!
//! A row's check holds every rule that applied to it and every value other rows predict for
//! it (tens of thousands of rules a row on a learned table), so rows are checked
//! [`ROWS_AT_ONCE`] at a time: memory is the graph plus one batch of checks, whatever the
//! number of rows. Each batch reads the rules that may apply once (from the store, a read per
//! batch).

use super::{Checked, RecordChecker};
use crate::rules::RulesError;
use crate::triples::one_graph::{OneGraph, Row};
use crate::triples::{DataError, Graph, RecordId, RecordName};

/// Rows checked together (their checks are held at once).
pub const ROWS_AT_ONCE: usize = 64;

/// One row's outcome, handed on in input order.
pub enum RowOutcome {
    /// A row read and checked: its name, its distinct triples, its check.
    Checked(RecordName, usize, Checked),
    /// A row that could not be read: it fails alone.
    Failed(RecordId, DataError),
}

/// Checks the rows of `one`, [`ROWS_AT_ONCE`] at a time, handing `each` the graph and every
/// row's outcome in input order.
pub fn each_row<E: From<RulesError>>(
    checker: &dyn RecordChecker,
    one: OneGraph<'_>,
    mut each: impl FnMut(&Graph<'_>, RowOutcome) -> Result<(), E>,
) -> Result<(), E> {
    let OneGraph { graph, rows } = one;
    let g = graph.finish();
    let mut rows = rows.into_iter().peekable();
    while rows.peek().is_some() {
        let batch: Vec<Row> = rows.by_ref().take(ROWS_AT_ONCE).collect();
        let subjects: Vec<Vec<u32>> = batch
            .iter()
            .filter_map(|r| match r {
                Row::Read { subjects, .. } => Some(subjects.clone()),
                Row::Failed { .. } => None,
            })
            .collect();
        let mut checked = checker.check_rows(&g, &subjects)?.into_iter();
        for row in batch {
            let outcome = match row {
                Row::Failed { id, error } => RowOutcome::Failed(id, error),
                // One check per row read, by construction; were one missing, the row fails
                // rather than pass unchecked.
                Row::Read {
                    record, triples, ..
                } => match checked.next() {
                    Some(c) => RowOutcome::Checked(record, triples, c),
                    None => RowOutcome::Failed(
                        record.id,
                        DataError::io(
                            &record.name,
                            std::io::Error::other("the record was not checked"),
                        ),
                    ),
                },
            };
            each(&g, outcome)?;
        }
    }
    Ok(())
}
