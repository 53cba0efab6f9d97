//! Checking a data file against a rule set: read records, map them to triples, run the
//! engine, turn outcomes into reports. Records stream through in bounded chunks, checked in
//! parallel and handed on in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::engine::{CheckOptions, Engine, store_candidates, witness_bounded, witness_triples};
use crate::report::{
    Finding, LogSum, MAX_RULES_PER_FINDING, RecordReport, RuleCounts, RuleDrift, RuleEvidence,
    RuleHealth, SeverityCounts, SeverityCuts, Summary, Triple, score_of,
};
use crate::rules::store::RuleStore;
use crate::rules::{
    EntId, RelId, Rule, RuleCatalog, RuleName, RuleSet, RuleSource, RulesError, Symbols,
};
use crate::triples::json::{self, Mapping};
use crate::triples::{DataError, Format, Graph, GraphBuilder, tsv};

/// Records read and checked together: four per worker thread. Bounds the reports held in
/// memory whatever the file size (a report with 1,000 findings can weigh megabytes).
pub fn chunk_records() -> usize {
    (rayon::current_num_threads() * 4).max(4)
}

/// How to check and what to keep.
#[derive(Debug, Clone)]
pub struct Options {
    /// Overrides the format the file name implies.
    pub input_format: Option<Format>,
    pub mapping: Mapping,
    pub severity: SeverityCuts,
    /// Build findings (false: per-rule counts only, no findings and no finding counts, e.g.
    /// for `--rule-stats` over a large graph).
    pub findings: bool,
    /// Violations kept per rule per record (before grouping).
    pub max_violations_per_rule: usize,
    /// Findings (groups by missing triple) kept per record, the highest scores.
    pub max_violations: usize,
    /// Check one record's rules in parallel (false when records are already spread over
    /// workers, as in `pff run`).
    pub parallel_rules: bool,
    /// Bindings one rule may try on one record before it is cut short (reported).
    pub max_rule_work: u64,
    /// Time one record may take; rules not started by then are skipped (reported).
    pub time_budget: Option<std::time::Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            input_format: None,
            mapping: Mapping::default(),
            severity: SeverityCuts::default(),
            findings: true,
            max_violations_per_rule: usize::MAX,
            max_violations: usize::MAX,
            parallel_rules: true,
            max_rule_work: u64::MAX,
            time_budget: None,
        }
    }
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

/// What [`Validator::run`] hands on.
#[derive(Debug)]
pub enum Event<'a> {
    /// The data is open and readable; records follow.
    Begin,
    Record(&'a RecordReport),
}

/// One record's counts of one rule that applied: `(rule index, predicted, correct)`.
pub type Tally = (u32, u64, u64);

/// One rule's counts summed over records.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RuleTally {
    pub predicted: u64,
    pub correct: u64,
    /// Records on which the body matched / the rule held / it was broken.
    pub applied: u64,
    pub held: u64,
    pub broken: u64,
}

impl RuleTally {
    /// `correct / predicted` on the data (0 when nothing was predicted).
    pub fn observed(&self) -> f64 {
        if self.predicted == 0 {
            0.0
        } else {
            self.correct as f64 / self.predicted as f64
        }
    }
}

/// Why rule statistics could not be written: the rules could not be listed again, or the
/// output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Write(#[from] io::Error),
}

/// Per-rule counts summed over records (`--rule-stats`, rule health). Sparse: only the rules
/// that applied take memory, so a run over a million rules does not hold a million tallies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleStats {
    rules: usize,
    counts: FxHashMap<u32, RuleTally>,
}

impl RuleStats {
    pub fn new(rules: usize) -> Self {
        Self {
            rules,
            counts: FxHashMap::default(),
        }
    }

    /// Adds one record's tallies.
    pub fn add(&mut self, tallies: &[Tally]) {
        for &(rule, predicted, correct) in tallies {
            self.add_rule(rule as usize, predicted, correct);
        }
    }

    /// Adds one record's counts of one rule that applied (an unknown index is ignored).
    pub fn add_rule(&mut self, rule: usize, predicted: u64, correct: u64) {
        let Some(key) = u32::try_from(rule).ok().filter(|_| rule < self.rules) else {
            return;
        };
        let c = self.counts.entry(key).or_default();
        c.predicted += predicted;
        c.correct += correct;
        c.applied += 1;
        if correct == predicted {
            c.held += 1;
        } else {
            c.broken += 1;
        }
    }

    /// The counts of rule `rule`, when it applied.
    fn applied_tally(&self, rule: usize) -> Option<&RuleTally> {
        u32::try_from(rule).ok().and_then(|r| self.counts.get(&r))
    }

    /// The counts of rule `rule` (zero when it never applied).
    pub fn get(&self, rule: usize) -> RuleTally {
        self.applied_tally(rule).copied().unwrap_or_default()
    }

    /// The rules that applied, by index, with their counts (in no particular order).
    fn each_applied(&self) -> impl Iterator<Item = (usize, &RuleTally)> + '_ {
        self.counts.iter().map(|(&i, t)| (i as usize, t))
    }

    /// Rules that applied at least once.
    pub fn applied(&self) -> usize {
        self.each_applied().count()
    }

    /// Rules broken on at least one record.
    pub fn broken(&self) -> usize {
        self.each_applied().filter(|(_, t)| t.broken > 0).count()
    }

    /// `(rule index, predicted, correct)` of the rules that applied, by index.
    pub fn rule_counts(&self) -> Vec<(usize, u64, u64)> {
        let mut v: Vec<_> = self
            .each_applied()
            .map(|(i, t)| (i, t.predicted, t.correct))
            .collect();
        v.sort_unstable();
        v
    }

    /// Writes an AnyBURL rules file with the recomputed counts, one line per rule in order.
    pub fn write(&self, rules: &dyn RuleCatalog, out: &mut impl Write) -> Result<(), StatsError> {
        self.pass(rules, Some(out), false).map(|_| ())
    }

    /// [`Self::write`] and [`Self::health_rows`] in one pass over `rules` (which may be read
    /// from disk).
    pub fn write_with_health<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
        out: &mut impl Write,
    ) -> Result<HealthRows<'s>, StatsError> {
        self.pass(rules, Some(out), true)
    }

    /// The rules that applied, with how far their observed confidence fell below the mined
    /// one, largest drop first, ties by rule order. One pass over `rules`.
    pub fn health_rows<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
    ) -> Result<HealthRows<'s>, StatsError> {
        self.pass(rules, None::<&mut io::Sink>, true)
    }

    fn pass<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
        mut out: Option<&mut impl Write>,
        want_rows: bool,
    ) -> Result<HealthRows<'s>, StatsError> {
        // The rules that applied, by index: walked beside the rules (which come in order), so
        // the pass does no lookup per rule.
        let mut applied: Vec<(usize, &RuleTally)> = self.each_applied().collect();
        applied.sort_unstable_by_key(|&(i, _)| i);
        let mut next = applied.iter().peekable();
        let mut rows = Vec::with_capacity(if want_rows { applied.len() } else { 0 });
        // Where rules cannot be looked up again by index, rows carry their names.
        let named = !rules.random_access();
        let mut res = Ok(());
        rules.each_rule(&mut |i, set, rule| {
            let applied = next.next_if(|&&(k, _)| k == i).map(|&(_, t)| t);
            if let (Some(out), Ok(())) = (out.as_mut(), &res) {
                let t = applied.copied().unwrap_or_default();
                let conf = t.observed();
                res = writeln!(
                    out,
                    "{}\t{}\t{conf:?}\t{}",
                    t.predicted, t.correct, rule.text
                );
            }
            if !want_rows {
                return;
            }
            if let Some(tally) = applied {
                rows.push(HealthRow {
                    drop: rule.confidence - tally.observed(),
                    index: i as u32,
                    named: named.then(|| Box::new(RuleName::of(set, rule))),
                });
            }
        })?;
        res?;
        rows.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.index.cmp(&b.index)));
        Ok(HealthRows { rows, stats: self })
    }

    /// Which rules applied, and the `top` whose observed confidence dropped most below the
    /// mined one (ties by rule order).
    pub fn health(&self, rules: &dyn RuleCatalog, top: usize) -> Result<RuleHealth, StatsError> {
        self.health_rows(rules)?.summary(rules, top)
    }
}

/// One rule that applied, for `rule-health.tsv` and the rule health of a summary: 24 bytes,
/// the rule's id and text looked up when written (or kept, when the rules cannot be looked
/// up by index).
#[derive(Debug, Clone)]
struct HealthRow {
    drop: f64,
    index: u32,
    named: Option<Box<RuleName>>,
}

/// The rules that applied, largest confidence drop first (see [`RuleStats::health_rows`]).
#[derive(Debug, Clone)]
pub struct HealthRows<'s> {
    rows: Vec<HealthRow>,
    stats: &'s RuleStats,
}

impl HealthRows<'_> {
    fn name(&self, rules: &dyn RuleCatalog, r: &HealthRow) -> Result<RuleName, StatsError> {
        match &r.named {
            Some(n) => Ok((**n).clone()),
            None => rules.describe(r.index as usize)?.ok_or_else(|| {
                StatsError::Write(io::Error::other(format!(
                    "rule {} cannot be read back",
                    r.index
                )))
            }),
        }
    }

    /// Every rule that applied, as TSV: id, records applied / held / broken, predicted,
    /// correct, mined and observed confidence, the drop, the rule; largest drop first (ties
    /// by rule order). Rules that never applied are counted in the last line.
    pub fn write(&self, rules: &dyn RuleCatalog, out: &mut impl Write) -> Result<(), StatsError> {
        writeln!(
            out,
            "rule_id\tapplied\theld\tbroken\tpredicted\tcorrect\tmined_confidence\tobserved_confidence\tdrop\trule"
        )?;
        for r in &self.rows {
            let t = self.stats.get(r.index as usize);
            let n = self.name(rules, r)?;
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:?}\t{:?}\t{:.6}\t{}",
                n.rule_id,
                t.applied,
                t.held,
                t.broken,
                t.predicted,
                t.correct,
                n.confidence,
                t.observed(),
                r.drop,
                n.text
            )?;
        }
        let total = self.stats.rules;
        writeln!(
            out,
            "# never applied: {} of {} rules",
            total - self.rows.len(),
            total
        )?;
        Ok(())
    }

    /// How many rules applied, and the `top` whose confidence dropped.
    pub fn summary(&self, rules: &dyn RuleCatalog, top: usize) -> Result<RuleHealth, StatsError> {
        let total = self.stats.rules;
        let mut drift = Vec::new();
        for r in self.rows.iter().filter(|r| r.drop > 0.0) {
            if drift.len() == top {
                break;
            }
            let t = self.stats.get(r.index as usize);
            if t.predicted == 0 {
                continue;
            }
            let n = self.name(rules, r)?;
            drift.push(RuleDrift {
                rule_id: n.rule_id,
                rule: n.text,
                mined_confidence: n.confidence,
                observed_confidence: t.observed(),
                predicted: t.predicted,
                correct: t.correct,
                records_applied: t.applied,
                records_held: t.held,
                records_broken: t.broken,
            });
        }
        Ok(RuleHealth {
            applied: self.rows.len(),
            never_applied: total - self.rows.len(),
            drift,
        })
    }
}

/// What ranks a violation inside its finding.
#[derive(Debug, Clone, Copy)]
struct MemberKey {
    /// `confidence / on_record`: a rule broken everywhere on a record says little about any
    /// one gap; a rule broken once points at it.
    weight: f64,
    confidence: f64,
    line: u32,
    /// The rule's index in the whole rule set.
    rule: u32,
}

/// Strongest evidence first; ties by rule line, then rule order (deterministic).
fn member_order(a: &MemberKey, b: &MemberKey) -> std::cmp::Ordering {
    b.weight
        .total_cmp(&a.weight)
        .then(b.confidence.total_cmp(&a.confidence))
        .then(a.line.cmp(&b.line))
        .then(a.rule.cmp(&b.rule))
}

/// One rule that applied to the record.
#[derive(Debug, Clone, Copy)]
struct RuleRow {
    rule: u32,
    line: u32,
    predicted: u64,
    correct: u64,
    confidence: f64,
}

impl RuleRow {
    fn key(&self) -> MemberKey {
        MemberKey {
            weight: self.confidence / (self.predicted - self.correct) as f64,
            confidence: self.confidence,
            line: self.line,
            rule: self.rule,
        }
    }
}

/// The row of rule `rule` in rows ascending by rule.
fn row_in(rows: &[RuleRow], rule: u32) -> Option<&RuleRow> {
    let at = rows.binary_search_by_key(&rule, |r| r.rule).ok()?;
    Some(&rows[at])
}

/// A rule shown with its evidence in a finding.
#[derive(Debug)]
struct TopMember {
    key: MemberKey,
    rule: Arc<Rule>,
    binding: Box<[EntId]>,
    /// The rule's violations on this record.
    on_record: u64,
}

/// The violations that predict one missing triple, in constant space whatever the number of
/// rules: what ranking needs, and the strongest [`MAX_RULES_PER_FINDING`] rules by index.
#[derive(Debug)]
struct Group {
    /// Every member's weight, for the score (exact in any order).
    sum: LogSum,
    count: u32,
    len: u8,
    /// The strongest members' rule indices, in [`member_order`].
    top: [u32; MAX_RULES_PER_FINDING],
    max_confidence: f64,
}

/// A group that made the record's findings, with its evidence.
#[derive(Debug)]
struct Kept {
    key: (EntId, RelId, EntId),
    score: f64,
    strongest: MemberKey,
    count: u32,
    top: Vec<u32>,
    evidence: Vec<TopMember>,
}

/// Why the evidence of a record could not be gathered: a rule could not be read back.
pub type FetchError = crate::rules::RulesError;

/// One record's check against a rule set that may come in chunks:
///
/// 1. [`Validator::check_into`] for each chunk of rules, in rule order: per-rule counts, and
///    violations folded into groups by missing triple (constant space per group);
/// 2. [`RecordCheck::rank`]: findings ranked, the first `max_violations` kept;
/// 3. [`RecordCheck::evidence`]: the strongest rules of each finding kept, read back by index,
///    each with a witness found with the head bound ([`crate::engine::witness`]);
/// 4. [`RecordCheck::finish`]: the report.
///
/// No step depends on how the rules were chunked, so a record checked against the whole set
/// at once and one checked chunk by chunk get the same report.
#[derive(Debug, Default)]
pub struct RecordCheck {
    violated: usize,
    satisfied: usize,
    truncated: usize,
    skipped: usize,
    cut_before_match: usize,
    by_severity: SeverityCounts,
    /// Missing triple (s, head relation, o) -> the violations predicting it.
    groups: FxHashMap<(EntId, RelId, EntId), Group>,
    /// Some rule kept fewer violations than it had (`max_violations_per_rule`).
    capped: bool,
    /// Every rule that applied, ascending by rule index.
    rows: Vec<RuleRow>,
    /// Time spent checking this record (its time budget covers all chunks).
    spent: std::time::Duration,
    /// The work bound of a rule, for the witness searches of the evidence too.
    max_steps: u64,
    /// After [`Self::rank`]: the findings kept, in report order.
    kept: Vec<Kept>,
    finding_counts: SeverityCounts,
    findings_cut: bool,
}

impl RecordCheck {
    pub fn new() -> Self {
        Self {
            max_steps: u64::MAX,
            ..Self::default()
        }
    }

    fn row_of(&self, rule: u32) -> Option<&RuleRow> {
        row_in(&self.rows, rule)
    }

    fn key_of(&self, rule: u32) -> Option<MemberKey> {
        self.row_of(rule).map(RuleRow::key)
    }

    /// Adds a violation of the rule in the last row to the group of its missing triple.
    fn add_violation(&mut self, triple: (EntId, RelId, EntId), key: MemberKey) {
        let group = self.groups.entry(triple).or_insert(Group {
            sum: LogSum::default(),
            count: 0,
            len: 0,
            top: [0; MAX_RULES_PER_FINDING],
            max_confidence: 0.0,
        });
        group.sum.add(key.weight);
        group.count += 1;
        group.max_confidence = group.max_confidence.max(key.confidence);
        let len = group.len as usize;
        let at = group.top[..len].partition_point(|&r| {
            row_in(&self.rows, r).is_some_and(|row| member_order(&row.key(), &key).is_lt())
        });
        if at < MAX_RULES_PER_FINDING {
            let end = len.min(MAX_RULES_PER_FINDING - 1);
            group.top.copy_within(at..end, at + 1);
            group.top[at] = key.rule;
            group.len = (len + 1).min(MAX_RULES_PER_FINDING) as u8;
        }
    }

    /// Ranks the findings (violations grouped by missing triple, by noisy-or score) and keeps
    /// the first `max_violations`. Call once, after every chunk went through
    /// [`Validator::check_into`].
    pub fn rank(&mut self, g: &Graph<'_>, opts: &Options) {
        /// What a finding is ranked by (the groups themselves stay where they are until the
        /// ones kept are chosen: ranking a record with 20k findings holds 20k of these).
        struct Rank {
            score: f64,
            max_confidence: f64,
            count: u32,
            line: u32,
            key: (EntId, RelId, EntId),
        }
        let groups = std::mem::take(&mut self.groups);
        let mut ranks: Vec<Rank> = groups
            .iter()
            .filter_map(|(&key, group)| {
                let strongest = self.key_of(group.top[0])?;
                Some(Rank {
                    score: score_of(strongest.weight, group.sum),
                    max_confidence: group.max_confidence,
                    count: group.count,
                    line: strongest.line,
                    key,
                })
            })
            .collect();
        for r in &ranks {
            self.finding_counts.add(opts.severity.of(r.score), 1);
        }
        // A total order: ties end on the missing triple's names, then its relation.
        let order = |a: &Rank, b: &Rank| {
            b.score
                .total_cmp(&a.score)
                .then(b.count.cmp(&a.count))
                .then(b.max_confidence.total_cmp(&a.max_confidence))
                .then(a.line.cmp(&b.line))
                .then_with(|| {
                    let name = |k: (EntId, RelId, EntId)| (g.entity_name(k.0), g.entity_name(k.2));
                    name(a.key).cmp(&name(b.key))
                })
                .then(a.key.1.cmp(&b.key.1))
        };
        self.findings_cut = ranks.len() > opts.max_violations;
        if self.findings_cut {
            ranks.select_nth_unstable_by(opts.max_violations, order);
            ranks.truncate(opts.max_violations);
        }
        ranks.sort_unstable_by(order);
        self.kept = ranks
            .iter()
            .filter_map(|r| {
                let group = groups.get(&r.key)?;
                Some(Kept {
                    key: r.key,
                    score: r.score,
                    strongest: self.key_of(group.top[0])?,
                    count: group.count,
                    top: group.top[..group.len as usize].to_vec(),
                    evidence: Vec::new(),
                })
            })
            .collect();
    }

    /// Gathers the evidence of the findings kept: `fetch` hands back a rule by index.
    pub fn evidence(
        &mut self,
        g: &Graph<'_>,
        mut fetch: impl FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    ) -> Result<(), FetchError> {
        let mut rules: FxHashMap<u32, Arc<Rule>> = FxHashMap::default();
        for i in 0..self.kept.len() {
            let kept = &self.kept[i];
            let mut evidence = Vec::with_capacity(kept.top.len());
            for &r in &kept.top {
                let rule = match rules.get(&r) {
                    Some(rule) => rule.clone(),
                    None => {
                        let rule = fetch(r)?;
                        rules.insert(r, rule.clone());
                        rule
                    }
                };
                let (Some(row), Some(binding)) = (
                    self.row_of(r),
                    witness_bounded(&rule, g, kept.key.0, kept.key.2, self.max_steps),
                ) else {
                    continue;
                };
                evidence.push(TopMember {
                    key: row.key(),
                    on_record: row.predicted - row.correct,
                    rule,
                    binding,
                });
            }
            self.kept[i].evidence = evidence;
        }
        Ok(())
    }

    /// Builds the report and hands back the per-rule tallies. `rules` gives the rule ids and
    /// relation names (any chunk of the rule set, or the set), `total` the number of rules in
    /// the whole set.
    #[allow(clippy::too_many_arguments)]
    pub fn finish(
        self,
        g: &Graph<'_>,
        rules: &RuleSet,
        total: usize,
        opts: &Options,
        index: usize,
        line: usize,
        name: String,
    ) -> (RecordReport, Vec<Tally>) {
        let (mut report, findings, tallies) = self.into_parts(total, opts, g, index, line, name);
        report.findings = findings.iter(g, rules, opts).collect();
        (report, tallies)
    }

    /// The report without its findings, the findings (built one at a time by
    /// [`KeptFindings::iter`], e.g. for [`RecordReport::write_json_with`]) and the tallies.
    pub fn into_parts(
        self,
        total: usize,
        opts: &Options,
        g: &Graph<'_>,
        index: usize,
        line: usize,
        name: String,
    ) -> (RecordReport, KeptFindings, Vec<Tally>) {
        let counts = RuleCounts {
            total,
            violated: self.violated,
            satisfied: self.satisfied,
            truncated: self.truncated,
            skipped: self.skipped,
            not_applicable: total
                - self.violated
                - self.satisfied
                - self.skipped
                - self.cut_before_match,
        };
        let truncated = self.findings_cut || (self.capped && opts.findings);
        let report = RecordReport {
            index,
            line,
            name: Some(name),
            error: None,
            triples: g.len(),
            rules: counts,
            violations: self.by_severity,
            finding_counts: self.finding_counts,
            findings: Vec::new(),
            truncated: truncated && opts.findings,
        };
        let tallies = self
            .rows
            .iter()
            .map(|r| (r.rule, r.predicted, r.correct))
            .collect();
        (report, KeptFindings(self.kept), tallies)
    }
}

/// The findings a record kept, with their evidence, in report order.
#[derive(Debug)]
pub struct KeptFindings(Vec<Kept>);

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
    let missing = Triple {
        subject: name(key.0),
        relation: rel(key.1),
        object: name(key.2),
    };
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
            .map(|(s, r, o)| Triple {
                subject: name(s),
                relation: rel(r),
                object: name(o),
            })
            .collect(),
    };
    let strongest = kept.strongest.confidence;
    let message = if n == 1 {
        format!(
            "{} has no `{}` {}; a rule with confidence {:.2} expects it (score {:.3})",
            missing.subject, missing.relation, missing.object, strongest, score
        )
    } else {
        format!(
            "{} has no `{}` {}; {} rules expect it (strongest confidence {:.2}, score {:.3})",
            missing.subject, missing.relation, missing.object, n, strongest, score
        )
    };
    Finding {
        severity: opts.severity.of(score),
        score,
        message,
        focus: missing.subject.clone(),
        rule_count: n,
        rules: kept.evidence.iter().map(evidence).collect(),
        missing,
    }
}

/// A rule set (or a chunk of one) ready to check records.
pub struct Validator<'r> {
    engine: Engine<'r>,
    opts: Options,
    /// The index of each rule in the whole rule set (`None`: the rules are the whole set).
    ids: Option<&'r [u32]>,
}

impl<'r> Validator<'r> {
    pub fn new(rules: &'r RuleSet, opts: Options) -> Self {
        Self {
            engine: Engine::new(rules),
            opts,
            ids: None,
        }
    }

    /// A validator for some rules of a larger rule set: `rules.rules[i]` is rule `ids[i]` of
    /// the whole set (ascending). The rules are checked without an index: they are taken to be
    /// the candidates for the record already.
    pub fn for_chunk(rules: &'r RuleSet, ids: &'r [u32], opts: Options) -> Self {
        Self {
            engine: Engine::unindexed(rules),
            opts,
            ids: Some(ids),
        }
    }

    pub fn rules(&self) -> &'r RuleSet {
        self.engine.rules()
    }

    pub fn options(&self) -> &Options {
        &self.opts
    }

    /// Checks one graph and builds its report (the whole rule set at once).
    pub fn check_graph(
        &self,
        g: &Graph<'_>,
        index: usize,
        line: usize,
        name: String,
    ) -> (RecordReport, Vec<Tally>) {
        let rules = self.rules();
        self.check_record(g)
            .finish(g, rules, rules.rules.len(), &self.opts, index, line, name)
    }

    /// Checks one graph against the whole rule set: the check ranked and with its evidence,
    /// ready for [`RecordCheck::finish`] or [`RecordCheck::into_parts`].
    pub fn check_record(&self, g: &Graph<'_>) -> RecordCheck {
        let mut check = RecordCheck::new();
        self.check_into(&mut check, g);
        check.rank(g, &self.opts);
        let rules = self.rules();
        // Rules in memory: reading one back cannot fail.
        let _ = check.evidence(g, |i| Ok(Arc::new(rules.rules[i as usize].clone())));
        check
    }

    /// Checks this validator's rules on `g` and adds the outcomes to `check` (step 1 of
    /// [`RecordCheck`]). Chunks must come in rule order.
    pub fn check_into(&self, check: &mut RecordCheck, g: &Graph<'_>) {
        let rules = self.rules();
        let started = std::time::Instant::now();
        let opts = CheckOptions {
            collect_violations: self.opts.findings,
            // Findings keep no witness from here: the ones shown are found again, head bound.
            witnesses: false,
            max_violations_per_rule: self.opts.max_violations_per_rule,
            max_steps_per_rule: self.opts.max_rule_work,
            deadline: self
                .opts
                .time_budget
                // No deadline where it would overflow the clock (budgets are bounded anyway).
                .and_then(|b| started.checked_add(b.saturating_sub(check.spent))),
            set_at_a_time: true,
        };
        let res = if self.opts.parallel_rules {
            self.engine.check(g, opts)
        } else {
            self.engine.check_sequential(g, opts)
        };
        check.spent += started.elapsed();
        check.max_steps = self.opts.max_rule_work;
        check.truncated += res.truncated;
        check.skipped += res.skipped;
        check.rows.reserve(res.outcomes.len());
        for o in &res.outcomes {
            let rule = &rules.rules[o.rule as usize];
            let global = match self.ids {
                Some(ids) => ids[o.rule as usize],
                None => o.rule,
            };
            check.rows.push(RuleRow {
                rule: global,
                line: rule.line,
                predicted: o.predicted,
                correct: o.correct,
                confidence: rule.confidence,
            });
            check.capped |= (o.violations.len() as u64) < o.violation_count();
            let n = o.violation_count();
            if o.predicted == 0 {
                // Cut short before its body matched: neither satisfied nor violated.
                check.cut_before_match += 1;
                continue;
            }
            if n == 0 {
                check.satisfied += 1;
                continue;
            }
            check.violated += 1;
            check
                .by_severity
                .add(self.opts.severity.of(rule.confidence), n);
            let key = MemberKey {
                weight: rule.confidence / n as f64,
                confidence: rule.confidence,
                line: rule.line,
                rule: global,
            };
            for v in &o.violations {
                check.add_violation((v.s, rule.head.rel, v.o), key);
            }
        }
    }

    /// Validates a data file, handing [`Event::Begin`] to `sink` once the data is open and
    /// readable, then each record's report in input order.
    pub fn run(
        &self,
        path: &Path,
        sink: impl FnMut(Event<'_>) -> io::Result<()>,
    ) -> Result<(Summary, RuleStats), ValidateError> {
        check_file(self, path, sink)
    }
}

/// Checks records against a rule set wherever its rules are: [`Validator`] (in memory) or
/// [`StoredRules`] (filed on disk, read per record).
pub trait RecordChecker: Sync {
    /// The check of one record: ranked, with the evidence of the findings kept.
    fn check(&self, g: &Graph<'_>) -> Result<RecordCheck, RulesError>;
    /// The symbols graphs are built over, the sources rule ids name, the relation names.
    fn header(&self) -> &RuleSet;
    /// Rules in the whole set.
    fn total(&self) -> usize;
    fn options(&self) -> &Options;
    /// The rules in order, for rule statistics and health.
    fn catalog(&self) -> &dyn RuleCatalog;

    /// Checks one graph and builds its report.
    fn report(
        &self,
        g: &Graph<'_>,
        index: usize,
        line: usize,
        name: String,
    ) -> Result<(RecordReport, Vec<Tally>), RulesError> {
        let (header, total, opts) = (self.header(), self.total(), self.options());
        Ok(self
            .check(g)?
            .finish(g, header, total, opts, index, line, name))
    }
}

impl RecordChecker for Validator<'_> {
    fn check(&self, g: &Graph<'_>) -> Result<RecordCheck, RulesError> {
        Ok(self.check_record(g))
    }

    fn header(&self) -> &RuleSet {
        self.rules()
    }

    fn total(&self) -> usize {
        self.rules().rules.len()
    }

    fn options(&self) -> &Options {
        &self.opts
    }

    fn catalog(&self) -> &dyn RuleCatalog {
        self.rules()
    }
}

/// Rules filed on disk ([`RuleStore`]): each record reads the rules it can use, at most a
/// batch at a time, in rule order, and the evidence of its findings by rule index.
pub struct StoredRules<'a> {
    source: &'a RuleSource,
    store: &'a RuleStore,
    opts: Options,
    /// Chunks of rules held at once, and the most at any time.
    live: AtomicUsize,
    max: AtomicUsize,
}

impl<'a> StoredRules<'a> {
    pub fn new(source: &'a RuleSource, store: &'a RuleStore, opts: Options) -> Self {
        Self {
            source,
            store,
            opts,
            live: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        }
    }

    /// The most chunks of rules held at once so far.
    pub fn max_chunks(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

impl RecordChecker for StoredRules<'_> {
    fn check(&self, g: &Graph<'_>) -> Result<RecordCheck, RulesError> {
        let header = self.source.header();
        let io = |e| self.source.store_error(e);
        let slots = store_candidates(self.store, g).map_err(io)?;
        let mut check = RecordCheck::new();
        for chunk in slots.chunks(self.source.batch_size()) {
            // Checking needs the rules and symbols only: names and ids come from the header.
            let set = RuleSet {
                symbols: header.symbols.clone(),
                rules: self.store.read(chunk).map_err(io)?,
                ..RuleSet::default()
            };
            let ids: Vec<u32> = chunk.iter().map(|s| s.rule).collect();
            let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            Validator::for_chunk(&set, &ids, self.opts.clone()).check_into(&mut check, g);
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        check.rank(g, &self.opts);
        check.evidence(g, |i| self.source.fetch(i).map(Arc::new))?;
        Ok(check)
    }

    fn header(&self) -> &RuleSet {
        self.source.header()
    }

    fn total(&self) -> usize {
        self.source.len()
    }

    fn options(&self) -> &Options {
        &self.opts
    }

    fn catalog(&self) -> &dyn RuleCatalog {
        self.source
    }
}

/// The checker for a [`RuleSource`]: its rules in memory, or read per record from its store.
pub enum SourceChecker<'a> {
    Loaded(Validator<'a>),
    Stored(StoredRules<'a>),
}

impl<'a> SourceChecker<'a> {
    /// `None` when the rules are neither in memory nor filed (a source opened only to list
    /// its rules).
    pub fn new(source: &'a RuleSource, opts: Options) -> Option<Self> {
        match source.store() {
            _ if source.in_memory() => Some(Self::Loaded(Validator::new(source.header(), opts))),
            Some(store) => Some(Self::Stored(StoredRules::new(source, store, opts))),
            None => None,
        }
    }

    pub fn get(&self) -> &dyn RecordChecker {
        match self {
            Self::Loaded(v) => v,
            Self::Stored(s) => s,
        }
    }

    /// The most chunks of rules held at once (0 with the rules in memory).
    pub fn max_chunks(&self) -> usize {
        match self {
            Self::Loaded(_) => 0,
            Self::Stored(s) => s.max_chunks(),
        }
    }
}

/// Validates a data file, handing [`Event::Begin`] to `sink` once the data is open and
/// readable, then each record's report in input order.
pub fn check_file(
    checker: &dyn RecordChecker,
    path: &Path,
    mut sink: impl FnMut(Event<'_>) -> io::Result<()>,
) -> Result<(Summary, RuleStats), ValidateError> {
    let shown = path.display().to_string();
    let opts = checker.options();
    let format = match opts.input_format.or_else(|| Format::from_path(path)) {
        Some(f) => f,
        None => return Err(DataError::UnknownFormat { path: shown }.into()),
    };
    if path.is_dir() {
        return Err(DataError::IsDirectory { path: shown }.into());
    }
    let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
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
    match format {
        Format::Tsv => {
            let mut b = GraphBuilder::new(&checker.header().symbols);
            tsv::read(&shown, BufReader::with_capacity(1 << 20, file), &mut b)?;
            let g = b.finish();
            emit(checker.report(&g, 0, 1, shown.clone())?)?;
        }
        Format::Json => {
            let mut text = Vec::new();
            BufReader::new(file)
                .read_to_end(&mut text)
                .map_err(|e| DataError::io(&shown, e))?;
            let doc = json::parse(&text).map_err(|e| e.into_data_error(&shown, &text, 1))?;
            let records = json::records(&doc);
            let chunk_len = chunk_records();
            for (c, chunk) in records.chunks(chunk_len).enumerate() {
                let reports = chunk
                    .par_iter()
                    .enumerate()
                    .map(|(i, v)| check_value(checker, &shown, v, c * chunk_len + i, 1))
                    .collect::<Result<Vec<_>, _>>()?;
                for r in reports {
                    emit(r)?;
                }
            }
        }
        Format::Jsonl => {
            let mut lines = json::JsonLines::new(BufReader::with_capacity(1 << 20, file));
            loop {
                let chunk: Vec<(usize, usize, Vec<u8>)> = lines
                    .by_ref()
                    .take(chunk_records())
                    .collect::<Result<_, _>>()
                    .map_err(|e| DataError::io(&shown, e))?;
                if chunk.is_empty() {
                    break;
                }
                let reports = chunk
                    .par_iter()
                    .map(|(index, line, text)| check_line(checker, &shown, *index, *line, text))
                    .collect::<Result<Vec<_>, _>>()?;
                for r in reports {
                    emit(r)?;
                }
            }
        }
    }
    if !begun {
        sink(Event::Begin).map_err(ValidateError::Output)?;
    }
    summary.rules_violated = stats.broken();
    summary.rule_health = Some(stats.health(checker.catalog(), 20).map_err(|e| match e {
        StatsError::Rules(e) => ValidateError::Rules(e),
        StatsError::Write(e) => ValidateError::Output(e),
    })?);
    Ok((summary, stats))
}

/// Checks one JSON Lines record; a line that is not JSON fails that record alone.
fn check_line(
    checker: &dyn RecordChecker,
    path: &str,
    index: usize,
    line: usize,
    text: &[u8],
) -> Result<(RecordReport, Vec<Tally>), RulesError> {
    match json::parse(text) {
        Ok(v) => check_value(checker, path, &v, index, line),
        Err(e) => {
            let err = e.into_data_error(path, text, line);
            Ok((
                RecordReport::failed(index, line, err.to_string()),
                Vec::new(),
            ))
        }
    }
}

fn check_value(
    checker: &dyn RecordChecker,
    path: &str,
    v: &json::Json<'_>,
    index: usize,
    line: usize,
) -> Result<(RecordReport, Vec<Tally>), RulesError> {
    let symbols = &checker.header().symbols;
    match record_triples(symbols, &checker.options().mapping, path, v, index, line) {
        Ok((b, name)) => checker.report(&b.finish(), index, line, name),
        Err(e) => Ok((RecordReport::failed(index, line, e.to_string()), Vec::new())),
    }
}

/// One JSON record mapped to triples over `symbols`: its builder and its name, or why the
/// value is not a record.
fn record_triples<'s>(
    symbols: &'s Symbols,
    mapping: &Mapping,
    path: &str,
    v: &json::Json<'_>,
    index: usize,
    line: usize,
) -> Result<(GraphBuilder<'s>, String), DataError> {
    let mut b = GraphBuilder::new(symbols);
    match mapping.record(v, index, &mut b) {
        Ok(name) => Ok((b, name)),
        Err(found) => Err(DataError::NotAnObject {
            path: path.to_string(),
            line,
            index,
            found,
        }),
    }
}

/// A record of a task, read and mapped to triples, waiting for the rules (`pff run`).
pub struct Prepared<'s> {
    /// 0-based record index in its file.
    pub index: usize,
    /// 1-based line where the record starts.
    pub line: usize,
    /// The record's graph and name, or why this record could not be read.
    pub graph: Result<(Graph<'s>, String), String>,
}

/// Reads a whole data file held in memory (one task of `pff run`) into graphs over `symbols`
/// (the rule set's), in input order; a record that cannot be read is kept with its reason.
/// Fails when the file as a whole is unreadable.
pub fn prepare_records<'s>(
    symbols: &'s Symbols,
    mapping: &Mapping,
    label: &str,
    format: Format,
    bytes: &[u8],
) -> Result<Vec<Prepared<'s>>, DataError> {
    let record = |v: &json::Json<'_>, index: usize, line: usize| Prepared {
        index,
        line,
        graph: record_triples(symbols, mapping, label, v, index, line)
            .map(|(b, name)| (b.finish(), name))
            .map_err(|e| e.to_string()),
    };
    let mut out = Vec::new();
    match format {
        Format::Tsv => {
            let mut b = GraphBuilder::new(symbols);
            tsv::read(label, bytes, &mut b)?;
            out.push(Prepared {
                index: 0,
                line: 1,
                graph: Ok((b.finish(), label.to_string())),
            });
        }
        Format::Json => {
            let doc = json::parse(bytes).map_err(|e| e.into_data_error(label, bytes, 1))?;
            for (i, v) in json::records(&doc).into_iter().enumerate() {
                out.push(record(v, i, 1));
            }
        }
        Format::Jsonl => {
            for item in json::JsonLines::new(bytes) {
                let (index, line, text) = item.map_err(|e| DataError::io(label, e))?;
                out.push(match json::parse(&text) {
                    Ok(v) => record(&v, index, line),
                    Err(e) => Prepared {
                        index,
                        line,
                        graph: Err(e.into_data_error(label, &text, line).to_string()),
                    },
                });
            }
        }
    }
    Ok(out)
}

/// Reads a data file into triples in arrival order (for `pff triples`), calling `sink` once
/// per record with its builder.
pub fn for_each_record_triples(
    path: &Path,
    format: Option<Format>,
    mapping: &Mapping,
    mut sink: impl FnMut(&GraphBuilder<'_>) -> io::Result<()>,
) -> Result<(), ValidateError> {
    let shown = path.display().to_string();
    let Some(format) = format.or_else(|| Format::from_path(path)) else {
        return Err(DataError::UnknownFormat { path: shown }.into());
    };
    if path.is_dir() {
        return Err(DataError::IsDirectory { path: shown }.into());
    }
    let syms = crate::triples::no_symbols();
    let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let record = |v: &json::Json<'_>, index: usize, line: usize| {
        record_triples(syms, mapping, &shown, v, index, line).map(|(b, _)| b)
    };
    match format {
        Format::Tsv => {
            let mut b = GraphBuilder::new(syms);
            tsv::read(&shown, reader, &mut b)?;
            sink(&b).map_err(ValidateError::Output)?;
        }
        Format::Json => {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .map_err(|e| DataError::io(&shown, e))?;
            let doc = json::parse(&text).map_err(|e| e.into_data_error(&shown, &text, 1))?;
            for (i, v) in json::records(&doc).into_iter().enumerate() {
                sink(&record(v, i, 1)?).map_err(ValidateError::Output)?;
            }
        }
        Format::Jsonl => {
            for item in json::JsonLines::new(reader) {
                let (index, line, text) = item.map_err(|e| DataError::io(&shown, e))?;
                let v = json::parse(&text).map_err(|e| e.into_data_error(&shown, &text, line))?;
                sink(&record(&v, index, line)?).map_err(ValidateError::Output)?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Rule statistics and rule health come out the same from rules in memory, from rules on
    /// disk, and from rules that can only be read again in order (`pff merge`).
    #[test]
    fn rule_stats_and_health_do_not_depend_on_where_the_rules_are() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("r.rules");
        let text = "10\t9\t0.9\th(X,c) <= b(X,A)\n# x\n10\t5\t0.5\tg(X,Y) <= b(X,Y)\n\
                    4\t1\t0.25\th(X,d) <= \n8\t8\t1.0\tk(X,Y) <= b(Y,X)\n";
        std::fs::write(&path, text).unwrap();
        let whole = crate::rules::load_rules(&path).unwrap();
        let tallies: Vec<Tally> = vec![(0, 4, 1), (2, 3, 3), (3, 2, 0), (0, 1, 1)];
        let outputs = |rules: &dyn RuleCatalog, stats: &RuleStats| {
            let mut stats_txt = Vec::new();
            let rows = stats.write_with_health(rules, &mut stats_txt).unwrap();
            let mut health = Vec::new();
            rows.write(rules, &mut health).unwrap();
            let summary = rows.summary(rules, 20).unwrap();
            (stats_txt, health, summary)
        };
        let mut sparse = RuleStats::new(whole.rules.len());
        sparse.add(&tallies);
        let expected = outputs(&whole, &sparse);
        let listed = RuleSource::open(&[&path], 0.0, 1).unwrap();
        assert!(!listed.random_access());
        assert_eq!(outputs(&listed, &sparse), expected);
        let stored = RuleSource::open_indexed(&[&path], 0.0, 1, dir.path()).unwrap();
        assert!(stored.store().is_some());
        // Twice: a pass must not depend on an earlier one (shared file positions).
        assert_eq!(outputs(&stored, &sparse), expected);
        assert_eq!(outputs(&stored, &sparse), expected);
        let health = String::from_utf8(expected.1).unwrap();
        assert!(health.contains("r.rules:1\t2\t1\t1\t5\t2"), "{health}");
        assert!(
            health.ends_with("# never applied: 1 of 4 rules\n"),
            "{health}"
        );
        assert_eq!(expected.2.drift.len(), 2);
    }
}
