//! `pff validate`'s driver: a data file's records stream through in bounded chunks, are
//! checked in parallel by a [`RecordChecker`] and handed on in input order.

use std::io;
use std::path::Path;

use rayon::prelude::*;

use crate::check::rows::{RowOutcome, each_row};
use crate::check::{RecordChecker, Tally};
use crate::report::{RecordReport, Summary};
use crate::rules::RulesError;
use crate::stats::{RuleStats, StatsError};
use crate::triples::Mapping;
use crate::triples::input::{self, RawRecord};
use crate::triples::one_graph;
use crate::triples::{DataError, Format, RecordName};

/// Records read and checked together: four per worker thread. Bounds the reports held in
/// memory whatever the file size (a report with 1,000 findings can weigh megabytes).
pub fn chunk_records() -> usize {
    (rayon::current_num_threads() * 4).max(4)
}

/// Why a validation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("cannot write the report")]
    Output(#[source] io::Error),
    #[error(transparent)]
    Rules(#[from] RulesError),
}

impl From<StatsError> for ValidateError {
    fn from(e: StatsError) -> Self {
        match e {
            StatsError::Rules(e) => ValidateError::Rules(e),
            StatsError::Write(e) => ValidateError::Output(e),
        }
    }
}

/// What [`check_file`] hands on.
#[derive(Debug)]
pub enum Event<'a> {
    /// The data is open and readable; records follow.
    Begin,
    Record(&'a RecordReport),
}

/// Validates a data file (`format`: the user's choice, else its extension's), handing
/// [`Event::Begin`] to `sink` once the data is open and readable, then each record's report
/// in input order.
pub fn check_file(
    checker: &dyn RecordChecker,
    path: &Path,
    format: Option<Format>,
    mapping: &Mapping,
    mut sink: impl FnMut(Event<'_>) -> io::Result<()>,
) -> Result<(Summary, RuleStats), ValidateError> {
    let shown = path.display().to_string();
    let (reader, format) = input::open_data(path, format)?;
    let mut summary = Summary {
        rules_total: checker.total(),
        ..Summary::default()
    };
    let mut stats = RuleStats::new(checker.total());
    let mut begun = false;
    let mut emit = |(report, tallies): (RecordReport, Vec<Tally>)| {
        if !std::mem::replace(&mut begun, true) {
            sink(Event::Begin).map_err(ValidateError::Output)?;
        }
        summary.add(&report);
        stats.add(&tallies);
        sink(Event::Record(&report)).map_err(ValidateError::Output)
    };
    let symbols = &checker.header().symbols;
    if one_graph::applies(mapping, format) {
        let one = one_graph::read(reader, format, &shown, symbols, mapping)?;
        let (header, total, opts) = (checker.header(), checker.total(), checker.options());
        each_row(checker, one, |g, row| match row {
            RowOutcome::Checked(record, triples, c) => {
                let (mut report, tallies) = c.finish(g, header, total, opts, record);
                report.triples = triples;
                emit((report, tallies))
            }
            RowOutcome::Failed(id, e) => emit((RecordReport::failed(id, e.to_string()), vec![])),
        })?;
    } else {
        input::read_records(reader, format, &shown, symbols, chunk_records(), |raw| {
            let reports = raw
                .into_par_iter()
                .map(|r| check_record(checker, mapping, &shown, r))
                .collect::<Result<Vec<_>, _>>()?;
            reports.into_iter().try_for_each(&mut emit)
        })?;
    }
    if !begun {
        sink(Event::Begin).map_err(ValidateError::Output)?;
    }
    summary.rules_violated = stats.broken();
    summary.rule_health = Some(stats.health(checker.catalog(), crate::report::HEALTH_TOP)?);
    Ok((summary, stats))
}

/// Checks one record; a record that cannot be read (not JSON, not an object) fails alone.
fn check_record(
    checker: &dyn RecordChecker,
    mapping: &Mapping,
    path: &str,
    raw: RawRecord<'_, '_>,
) -> Result<(RecordReport, Vec<Tally>), RulesError> {
    let id = raw.id;
    match raw.triples(&checker.header().symbols, mapping, path) {
        Ok((b, name)) => checker.report(&b.finish(), RecordName { id, name }),
        Err(e) => Ok((RecordReport::failed(id, e.to_string()), Vec::new())),
    }
}
