//! The report model's findings, built from a record's kept findings one at a time.

use std::collections::BTreeMap;

use super::Options;
use super::kept::{Kept, TopMember};
use crate::engine::witness_triples;
use crate::report::{Finding, RuleEvidence, Triple, culprit_message, finding_message};
use crate::rules::RuleSet;
use crate::triples::Graph;

/// The findings a record kept, with their evidence, in report order.
#[derive(Debug)]
pub struct KeptFindings(pub(super) Vec<Kept>);

impl KeptFindings {
    /// The findings, built one at a time. `rules` gives the rule ids and relation names.
    pub fn iter<'a>(
        &'a self,
        g: &'a Graph<'_>,
        rules: &'a RuleSet,
        opts: &'a Options,
    ) -> impl Iterator<Item = Finding> + 'a {
        self.0.iter().map(move |k| finding(g, rules, opts, k))
    }
}

fn finding(g: &Graph<'_>, rules: &RuleSet, opts: &Options, kept: &Kept) -> Finding {
    let name = |id| g.entity_name(id).to_string();
    let rel = |id| rules.relation(id).to_string();
    let (key, score, n) = (kept.key, kept.score, kept.count as usize);
    let triple = |(s, r, o)| Triple {
        subject: name(s),
        relation: rel(r),
        object: name(o),
    };
    let missing = triple(key);
    let evidence = |m: &TopMember| RuleEvidence {
        rule_id: rules.rule_id(&m.rule),
        violations_on_record: m.on_record,
        weight: m.key.weight,
        rule: m.rule.text.to_string(),
        confidence: m.rule.confidence,
        mined_predicted: m.rule.predicted,
        mined_correct: m.rule.correct,
        bindings: m
            .rule
            .vars
            .iter()
            .zip(m.binding.iter())
            .map(|(&var, &e)| (((b'A' + var) as char).to_string(), name(e)))
            .collect::<BTreeMap<_, _>>(),
        evidence: witness_triples(&m.rule, &m.binding)
            .into_iter()
            .map(triple)
            .collect(),
    };
    let present: Vec<String> = kept.present.iter().map(|&e| name(e)).collect();
    let culprit = kept.culprit.map(triple);
    let explains: Vec<Triple> = kept.explains.iter().map(|&k| triple(k)).collect();
    let message = match &culprit {
        Some(c) => culprit_message(c, &explains, score),
        None => finding_message(&missing, &present, n, kept.strongest().confidence, score),
    };
    Finding {
        severity: super::grouping::severity_of(opts, score, kept.basis),
        score,
        message,
        kind: kept.kind,
        present,
        culprit,
        explains,
        baseline: None,
        focus: name(kept.focus),
        consequences: kept.consequences.iter().map(|&k| triple(k)).collect(),
        consequence_count: kept.consequence_count as usize,
        rule_count: n,
        rules: kept.evidence.iter().map(evidence).collect(),
        missing,
    }
}
