//! What a command says about its rules and its data before and after it checks: rules
//! without counts, the id triples the rules need, an encoding that does not match the data,
//! why it exits 1. Shared by `validate`, `calibrate` and `run`.

use std::path::Path;

use anyhow::{Result, bail};

use crate::rules::RuleSource;
use crate::triples::input;

/// Says so when rules came without counts (a plain list of rules): they are taken as certain.
pub(super) fn warn_without_counts(rules: &RuleSource) {
    let n = rules.header().without_counts;
    if n > 0 {
        eprintln!(
            "pff: warning: {n} rule{} of {} have no counts (predicted TAB correct TAB confidence \
             TAB rule, as AnyBURL writes them): each is taken with confidence 1.0",
            if n == 1 { "" } else { "s" },
            rules.header().source
        );
    }
}

/// Rules that speak of the id key as a relation (learned on a graph with `(X, id, X)` for every
/// node, as the predecessor's) are checked with those triples, said once; a rule set or the
/// user decides otherwise.
pub(super) fn adopt_id_triples(
    mapping: &mut crate::triples::Mapping,
    rules: &RuleSource,
    recorded: bool,
) {
    if mapping.id_triples || recorded {
        return;
    }
    let per_relation = rules.rules_per_relation();
    if let Some(n) = crate::encoding::wants_id_triples(&per_relation, rules.len(), &mapping.id_key)
    {
        mapping.id_triples = true;
        eprintln!(
            "pff: note: {n} of {} rules use `{}` as a relation, as in a graph that holds (X, {}, \
             X) for every node: checking with those triples (--id-triples)",
            rules.len(),
            mapping.id_key,
            mapping.id_key
        );
    }
}

/// Says once when the rules mostly use relations the data's first records never give under
/// `mapping` (an error under `strict`); triples files and standard input are not sampled.
pub(super) fn check_encoding(
    data: &Path,
    given: Option<crate::triples::Format>,
    mapping: &crate::triples::Mapping,
    rules: &RuleSource,
    strict: bool,
) -> Result<Option<String>> {
    let Ok(format) = input::file_format(data, given) else {
        return Ok(None);
    };
    if format == crate::triples::Format::Tsv {
        return Ok(None);
    }
    let Some(sample) = crate::encoding::read_sample(data, format) else {
        return Ok(None);
    };
    let per_relation = rules.rules_per_relation();
    let Some(m) = crate::encoding::diagnose(&sample, format, mapping, &per_relation, rules.len())
    else {
        return Ok(None);
    };
    if strict {
        bail!("{m} (--strict)");
    }
    eprintln!("pff: warning: {m}");
    Ok(Some(m.to_string()))
}

/// Why a command exits 1: `6 error findings; --fail-on error`.
pub(super) fn fail_reason(
    c: &crate::report::SeverityCounts,
    fail_on: crate::report::FailOn,
) -> String {
    let mut parts = Vec::new();
    for (n, level) in [(c.error, "error"), (c.warning, "warning"), (c.info, "info")] {
        if n > 0 {
            parts.push(format!("{n} {level}"));
        }
        if level == format!("{fail_on:?}").to_lowercase() {
            break;
        }
    }
    format!(
        "exit 1: {} findings; --fail-on {}",
        parts.join(", "),
        format!("{fail_on:?}").to_lowercase()
    )
}
