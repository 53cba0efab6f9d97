//! `pff calibrate`: severity cut points derived from clean reference records and from
//! corruptions pff makes itself, never from a test set.
//!
//! On clean records every finding is a false alarm, so the cut points are set from how strong
//! the strongest findings of a typical clean record are: the error cut is just above the
//! median record's `errors + 1`-th strongest finding score (so that the median clean record
//! has at most `errors` error-level findings), and the warning cut likewise for
//! `errors + warnings` findings. The corruptions then say what those cuts cost: each one is a
//! generic change to one record (a value replaced by another value the record holds for the
//! same relation, a triple removed, the values of two nodes swapped), found when a finding
//! predicts the original triple or is about the changed node, and the recall at each cut is
//! reported.

use std::io;
use std::path::Path;

use rayon::prelude::*;
use serde::Serialize;

use crate::check::RecordChecker;
use crate::report::Finding;
use crate::rules::RulesError;
use crate::triples::Mapping;
use crate::triples::input::{self, RawRecord};
use crate::triples::{DataError, Format, GraphBuilder, RecordName, TripleSink};
use crate::validate::{ValidateError, chunk_records};

/// What a calibration aims at: error-level and warning-level findings on the median clean
/// record (the targets: at most 1 error, at most 3 errors and warnings together).
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub errors: usize,
    pub warnings: usize,
}

/// The cut points found, and what they mean on the reference data.
#[derive(Debug, Clone, Serialize)]
pub struct Calibration {
    pub error_confidence: f64,
    pub warning_confidence: f64,
    /// Clean records read, and records that could not be read.
    pub records: usize,
    pub unreadable: usize,
    /// Corruptions made, and how many a finding points at (at any score, at warning level or
    /// above, at error level).
    pub corruptions: usize,
    pub found: usize,
    pub found_warning: usize,
    pub found_error: usize,
}

/// One generic corruption of a record: the triple it takes away and the one it adds, if any.
#[derive(Debug, Clone)]
struct Corruption {
    removed: (String, String, String),
    added: Vec<(String, String, String)>,
}

/// What one record tells: the scores of its strongest clean findings, and for each corruption
/// the score of the strongest finding that points at it.
struct RecordResult {
    clean_scores: Vec<f64>,
    corruption_scores: Vec<Option<f64>>,
}

/// A record's triples by name, in arrival order, without repeats.
#[derive(Default)]
struct Triples(Vec<(String, String, String)>);

impl TripleSink for Triples {
    fn triple(&mut self, s: &str, r: &str, o: &str) {
        self.0.push((s.to_string(), r.to_string(), o.to_string()));
    }
}

/// The corruptions made of one record, chosen deterministically from its triples: up to
/// `per_record`, alternating replace, remove and swap, each on a triple whose relation has
/// another value elsewhere in the record.
fn corruptions(triples: &[(String, String, String)], per_record: usize) -> Vec<Corruption> {
    let mut out = Vec::new();
    if triples.is_empty() {
        return out;
    }
    // A stride through the triples so that the picks spread over the record.
    let stride = (triples.len() / (per_record * 3).max(1)).max(1);
    let mut i = 0;
    let mut kind = 0;
    while out.len() < per_record && i < triples.len() {
        let t = &triples[i];
        let other = triples
            .iter()
            .find(|u| u.1 == t.1 && u.2 != t.2 && u.0 != t.0);
        match (kind % 3, other) {
            (0, Some(u)) => out.push(Corruption {
                removed: t.clone(),
                added: vec![(t.0.clone(), t.1.clone(), u.2.clone())],
            }),
            (1, _) => out.push(Corruption {
                removed: t.clone(),
                added: Vec::new(),
            }),
            (2, Some(u)) => out.push(Corruption {
                removed: t.clone(),
                added: vec![
                    (t.0.clone(), t.1.clone(), u.2.clone()),
                    (u.0.clone(), u.1.clone(), t.2.clone()),
                ],
            }),
            _ => {}
        }
        kind += 1;
        i += stride;
    }
    out
}

/// The strongest finding that points at `c`: it predicts the removed triple, or it is about
/// the changed node.
fn detected(findings: &[Finding], c: &Corruption) -> Option<f64> {
    let (s, r, o) = &c.removed;
    findings
        .iter()
        .find(|f| {
            (&f.missing.subject == s && &f.missing.relation == r && &f.missing.object == o)
                || &f.focus == s
        })
        .map(|f| f.score)
}

/// Checks one reference record and its corruptions.
fn record(
    checker: &dyn RecordChecker,
    mapping: &Mapping,
    label: &str,
    raw: RawRecord<'_, '_>,
    keep_scores: usize,
    per_record: usize,
) -> Result<Option<RecordResult>, RulesError> {
    let symbols = &checker.header().symbols;
    let id = raw.id;
    let Ok((b, name)) = raw.triples(symbols, mapping, label) else {
        return Ok(None);
    };
    let mut triples = Triples::default();
    for (s, r, o) in b.unique_triples() {
        triples.triple(s, r, o);
    }
    let report = |b: GraphBuilder<'_>| {
        let g = b.finish();
        let record = RecordName {
            id,
            name: name.clone(),
        };
        checker.report(&g, record).map(|(r, _)| r.findings)
    };
    let clean = report(b)?;
    let clean_scores = clean.iter().take(keep_scores).map(|f| f.score).collect();
    let mut corruption_scores = Vec::new();
    for c in corruptions(&triples.0, per_record) {
        let mut b = GraphBuilder::new(symbols);
        for t in triples.0.iter().filter(|t| **t != c.removed) {
            b.triple(&t.0, &t.1, &t.2);
        }
        for t in &c.added {
            b.triple(&t.0, &t.1, &t.2);
        }
        corruption_scores.push(detected(&report(b)?, &c));
    }
    Ok(Some(RecordResult {
        clean_scores,
        corruption_scores,
    }))
}

/// The cut that leaves at most `k` findings on the median record: just above the median of
/// the records' `k + 1`-th strongest scores (0 for a record with `k` findings or fewer).
fn cut_for(records: &[RecordResult], k: usize) -> f64 {
    let mut xs: Vec<f64> = records
        .iter()
        .map(|r| r.clean_scores.get(k).copied().unwrap_or(0.0))
        .collect();
    xs.sort_by(f64::total_cmp);
    let median = xs.get(xs.len() / 2).copied().unwrap_or(0.0);
    // The next value up at three decimals: cut points are read and written that way.
    ((median * 1000.0).floor() + 1.0).min(1000.0) / 1000.0
}

/// Calibrates the cut points on the clean records of `reference` (`format`: given, else its
/// extension's), checking `per_record` corruptions of each.
pub fn calibrate(
    checker: &dyn RecordChecker,
    reference: &Path,
    format: Option<Format>,
    mapping: &Mapping,
    targets: Targets,
    per_record: usize,
) -> Result<Calibration, ValidateError> {
    let shown = reference.display().to_string();
    let (reader, format) = input::open_data(reference, format)?;
    let keep_scores = targets.errors + targets.warnings + 1;
    let symbols = &checker.header().symbols;
    let mut results = Vec::new();
    let mut unreadable = 0;
    input::read_records(reader, format, &shown, symbols, chunk_records(), |raw| {
        let done = raw
            .into_par_iter()
            .map(|r| record(checker, mapping, &shown, r, keep_scores, per_record))
            .collect::<Result<Vec<_>, _>>()?;
        for r in done {
            match r {
                Some(r) => results.push(r),
                None => unreadable += 1,
            }
        }
        Ok::<(), ValidateError>(())
    })?;
    if results.is_empty() {
        return Err(DataError::Io {
            path: shown,
            source: io::Error::other("no readable record to calibrate on"),
        }
        .into());
    }
    let corruptions: usize = results.iter().map(|r| r.corruption_scores.len()).sum();
    if corruptions == 0 {
        // Cut points with nothing to measure them on would be a guess presented as a result.
        return Err(DataError::Io {
            path: shown,
            source: io::Error::other(
                "no corruption could be made of its records (they hold no value a rule \
                 predicts, or --corruptions is 0): a calibration without evidence is refused; \
                 use records the rules apply to",
            ),
        }
        .into());
    }
    let error = cut_for(&results, targets.errors);
    let warning = cut_for(&results, targets.errors + targets.warnings).min(error);
    let scores: Vec<f64> = results
        .iter()
        .flat_map(|r| r.corruption_scores.iter().flatten().copied())
        .collect();
    Ok(Calibration {
        error_confidence: error,
        warning_confidence: warning,
        records: results.len(),
        unreadable,
        corruptions,
        found: scores.len(),
        found_warning: scores.iter().filter(|&&s| s >= warning).count(),
        found_error: scores.iter().filter(|&&s| s >= error).count(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, r: &str, o: &str) -> (String, String, String) {
        (s.into(), r.into(), o.into())
    }

    #[test]
    fn corruptions_are_generic_and_deterministic() {
        let triples = vec![
            t("K1", "paymentContext", "Postpaid"),
            t("K2", "paymentContext", "Control"),
            t("K1", "name", "a"),
            t("K2", "name", "b"),
        ];
        let a = corruptions(&triples, 3);
        let b = corruptions(&triples, 3);
        assert_eq!(format!("{a:?}"), format!("{b:?}"));
        assert_eq!(a.len(), 3);
        // Replace: the value another node holds for the same relation.
        assert_eq!(a[0].removed, t("K1", "paymentContext", "Postpaid"));
        assert_eq!(a[0].added, vec![t("K1", "paymentContext", "Control")]);
        // Remove.
        assert!(a[1].added.is_empty());
        // Swap: both nodes change.
        assert_eq!(a[2].added.len(), 2);
    }

    #[test]
    fn the_cut_leaves_the_median_record_its_target() {
        let rec = |scores: &[f64]| RecordResult {
            clean_scores: scores.to_vec(),
            corruption_scores: Vec::new(),
        };
        let records = [rec(&[0.95, 0.5]), rec(&[0.99, 0.8, 0.2]), rec(&[0.7])];
        // Second-strongest scores: 0.5, 0.8, 0 -> median 0.5 -> cut 0.501: the median record
        // keeps one finding above it.
        assert!((cut_for(&records, 1) - 0.501).abs() < 1e-12);
        assert!((cut_for(&records, 0) - 0.951).abs() < 1e-12);
    }
}
