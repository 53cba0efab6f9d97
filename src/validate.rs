//! Checking a data file against a rule set: read records, map them to triples, run the
//! engine, turn outcomes into reports. Records stream through in bounded chunks, checked in
//! parallel and handed on in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;

use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::engine::{CheckOptions, Engine, RuleOutcome, Violation, witness_triples};
use crate::report::{
    Finding, MAX_RULES_PER_FINDING, RecordReport, RuleCounts, RuleDrift, RuleEvidence, RuleHealth,
    SeverityCounts, SeverityCuts, Summary, Triple, combined_score,
};
use crate::rules::{EntId, RelId, Rule, RuleSet};
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
}

/// What [`Validator::run`] hands on.
#[derive(Debug)]
pub enum Event<'a> {
    /// The data is open and readable; records follow.
    Begin,
    Record(&'a RecordReport),
}

/// A violation inside a finding, with its weight.
struct Member<'a> {
    rule: &'a Rule,
    v: &'a Violation,
    /// `confidence / on_record`.
    weight: f64,
    /// The rule's violations on this record.
    on_record: u64,
}

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

/// Per-rule counts summed over records (`--rule-stats`, rule health).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStats {
    pub counts: Vec<RuleTally>,
}

impl RuleStats {
    pub fn new(rules: usize) -> Self {
        Self {
            counts: vec![RuleTally::default(); rules],
        }
    }

    /// Adds one record's outcomes.
    pub fn add(&mut self, outcomes: &[RuleOutcome]) {
        for o in outcomes {
            self.add_rule(o.rule as usize, o.predicted, o.correct);
        }
    }

    /// Adds one record's counts of one rule that applied (an unknown index is ignored).
    pub fn add_rule(&mut self, rule: usize, predicted: u64, correct: u64) {
        let Some(c) = self.counts.get_mut(rule) else {
            return;
        };
        c.predicted += predicted;
        c.correct += correct;
        c.applied += 1;
        if correct == predicted {
            c.held += 1;
        } else {
            c.broken += 1;
        }
    }

    /// The rules that applied, with how far their observed confidence fell below the mined
    /// one, largest drop first, ties by rule order.
    fn by_drop(&self, rules: &RuleSet) -> Vec<(f64, usize)> {
        let mut rows: Vec<(f64, usize)> = self
            .counts
            .iter()
            .enumerate()
            .filter(|(_, t)| t.applied > 0)
            .map(|(i, t)| (rules.rules[i].confidence - t.observed(), i))
            .collect();
        rows.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        rows
    }

    /// Writes an AnyBURL rules file with the recomputed counts, one line per rule in order.
    pub fn write(&self, rules: &RuleSet, out: &mut impl Write) -> io::Result<()> {
        for (rule, t) in rules.rules.iter().zip(&self.counts) {
            let conf = t.observed();
            writeln!(
                out,
                "{}\t{}\t{conf:?}\t{}",
                t.predicted, t.correct, rule.text
            )?;
        }
        Ok(())
    }

    /// Every rule that applied, as TSV: id, records applied / held / broken, predicted,
    /// correct, mined and observed confidence, the drop, the rule; largest drop first (ties
    /// by rule order). Rules that never applied are counted in the last line.
    pub fn write_health(&self, rules: &RuleSet, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "rule_id\tapplied\theld\tbroken\tpredicted\tcorrect\tmined_confidence\tobserved_confidence\tdrop\trule"
        )?;
        let rows = self.by_drop(rules);
        for (drop, i) in &rows {
            let (r, t) = (&rules.rules[*i], &self.counts[*i]);
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:?}\t{:?}\t{:.6}\t{}",
                rules.rule_id(r),
                t.applied,
                t.held,
                t.broken,
                t.predicted,
                t.correct,
                r.confidence,
                t.observed(),
                drop,
                r.text
            )?;
        }
        writeln!(
            out,
            "# never applied: {} of {} rules",
            self.counts.len() - rows.len(),
            self.counts.len()
        )
    }

    /// Which rules applied, and the `top` whose observed confidence dropped most below the
    /// mined one (ties by rule order).
    pub fn health(&self, rules: &RuleSet, top: usize) -> RuleHealth {
        let applied = self.counts.iter().filter(|t| t.applied > 0).count();
        let drift = self
            .by_drop(rules)
            .into_iter()
            .filter(|&(drop, i)| drop > 0.0 && self.counts[i].predicted > 0);
        RuleHealth {
            applied,
            never_applied: self.counts.len() - applied,
            drift: drift
                .take(top)
                .map(|(_, i)| {
                    let (r, t) = (&rules.rules[i], &self.counts[i]);
                    RuleDrift {
                        rule_id: rules.rule_id(r),
                        rule: r.text.to_string(),
                        mined_confidence: r.confidence,
                        observed_confidence: t.observed(),
                        predicted: t.predicted,
                        correct: t.correct,
                        records_applied: t.applied,
                        records_held: t.held,
                        records_broken: t.broken,
                    }
                })
                .collect(),
        }
    }
}

/// A rule set ready to check records.
pub struct Validator<'r> {
    engine: Engine<'r>,
    opts: Options,
}

impl<'r> Validator<'r> {
    pub fn new(rules: &'r RuleSet, opts: Options) -> Self {
        Self {
            engine: Engine::new(rules),
            opts,
        }
    }

    pub fn rules(&self) -> &'r RuleSet {
        self.engine.rules()
    }

    /// Checks one graph and builds its report: violations grouped by missing triple into
    /// findings, ranked by noisy-or score, the first `max_violations` kept.
    pub fn check_graph(
        &self,
        g: &Graph<'_>,
        index: usize,
        line: usize,
        name: String,
    ) -> (RecordReport, Vec<RuleOutcome>) {
        let rules = self.rules();
        let opts = CheckOptions {
            collect_violations: self.opts.findings,
            max_violations_per_rule: self.opts.max_violations_per_rule,
            max_steps_per_rule: self.opts.max_rule_work,
            deadline: self.opts.time_budget.map(|b| std::time::Instant::now() + b),
            set_at_a_time: true,
        };
        let res = if self.opts.parallel_rules {
            self.engine.check(g, opts)
        } else {
            self.engine.check_sequential(g, opts)
        };
        let mut counts = RuleCounts {
            total: rules.rules.len(),
            truncated: res.truncated,
            skipped: res.skipped,
            ..RuleCounts::default()
        };
        let mut by_severity = SeverityCounts::default();
        // Missing triple (s, head relation, o) -> the (rule, violation) pairs predicting it.
        // Each member carries its weight: the rule's confidence divided by how many violations
        // the rule has on this record. A rule broken everywhere on a record says little about
        // any one gap; a rule broken once points at it.
        let mut groups: FxHashMap<(EntId, RelId, EntId), Vec<Member<'_>>> = FxHashMap::default();
        for o in &res.outcomes {
            let rule = &rules.rules[o.rule as usize];
            let n = o.violation_count();
            if o.predicted == 0 {
                // Cut short before its body matched: neither satisfied nor violated.
                continue;
            }
            if n == 0 {
                counts.satisfied += 1;
                continue;
            }
            counts.violated += 1;
            by_severity.add(self.opts.severity.of(rule.confidence), n);
            let weight = rule.confidence / n as f64;
            for v in &o.violations {
                groups
                    .entry((v.s, rule.head.rel, v.o))
                    .or_default()
                    .push(Member {
                        rule,
                        v,
                        weight,
                        on_record: n,
                    });
            }
        }
        let cut_before_match = res.outcomes.iter().filter(|o| o.predicted == 0).count();
        counts.not_applicable =
            counts.total - counts.violated - counts.satisfied - counts.skipped - cut_before_match;

        struct Ranked<'a> {
            score: f64,
            max: f64,
            key: (EntId, RelId, EntId),
            members: Vec<Member<'a>>,
        }
        let mut ranked: Vec<Ranked<'_>> = groups
            .into_iter()
            .map(|(key, mut members)| {
                // Strongest evidence first; ties by rule line (deterministic).
                members.sort_by(|a, b| {
                    b.weight
                        .total_cmp(&a.weight)
                        .then(b.rule.confidence.total_cmp(&a.rule.confidence))
                        .then(a.rule.line.cmp(&b.rule.line))
                });
                Ranked {
                    score: combined_score(members.iter().map(|m| m.weight)),
                    max: members
                        .iter()
                        .map(|m| m.rule.confidence)
                        .fold(0.0, f64::max),
                    key,
                    members,
                }
            })
            .collect();
        let mut finding_counts = SeverityCounts::default();
        for r in &ranked {
            finding_counts.add(self.opts.severity.of(r.score), 1);
        }
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.members.len().cmp(&a.members.len()))
                .then(b.max.total_cmp(&a.max))
                .then(a.members[0].rule.line.cmp(&b.members[0].rule.line))
                .then_with(|| {
                    let name = |k: (EntId, RelId, EntId)| (g.entity_name(k.0), g.entity_name(k.2));
                    name(a.key).cmp(&name(b.key))
                })
        });
        let capped_rules = res
            .outcomes
            .iter()
            .any(|o| (o.violations.len() as u64) < o.violation_count());
        let truncated =
            ranked.len() > self.opts.max_violations || (capped_rules && opts.collect_violations);
        ranked.truncate(self.opts.max_violations);
        let findings = ranked
            .into_iter()
            .map(|r| self.finding(g, r.score, &r.members))
            .collect();
        let report = RecordReport {
            index,
            line,
            name: Some(name),
            error: None,
            triples: g.len(),
            rules: counts,
            violations: by_severity,
            finding_counts,
            findings,
            truncated: truncated && self.opts.findings,
        };
        (report, res.outcomes)
    }

    fn finding(&self, g: &Graph<'_>, score: f64, members: &[Member<'_>]) -> Finding {
        let rules = self.rules();
        let name = |id| g.entity_name(id).to_string();
        let rel = |id| rules.relation(id).to_string();
        let (top_rule, top) = (members[0].rule, members[0].v);
        let missing = Triple {
            subject: name(top.s),
            relation: rel(top_rule.head.rel),
            object: name(top.o),
        };
        let evidence = |m: &Member<'_>| RuleEvidence {
            rule_id: rules.rule_id(m.rule),
            violations_on_record: m.on_record,
            weight: m.weight,
            rule: m.rule.text.to_string(),
            confidence: m.rule.confidence,
            mined_predicted: m.rule.predicted,
            mined_correct: m.rule.correct,
            bindings: m
                .rule
                .vars
                .iter()
                .zip(m.v.binding.iter())
                .map(|(&var, &e)| (((b'A' + var) as char).to_string(), name(e)))
                .collect::<BTreeMap<_, _>>(),
            evidence: witness_triples(m.rule, &m.v.binding)
                .into_iter()
                .map(|(s, r, o)| Triple {
                    subject: name(s),
                    relation: rel(r),
                    object: name(o),
                })
                .collect(),
        };
        let message = if members.len() == 1 {
            format!(
                "{} has no `{}` {}; a rule with confidence {:.2} expects it (score {:.3})",
                missing.subject, missing.relation, missing.object, top_rule.confidence, score
            )
        } else {
            format!(
                "{} has no `{}` {}; {} rules expect it (strongest confidence {:.2}, score {:.3})",
                missing.subject,
                missing.relation,
                missing.object,
                members.len(),
                top_rule.confidence,
                score
            )
        };
        Finding {
            severity: self.opts.severity.of(score),
            score,
            message,
            focus: missing.subject.clone(),
            rule_count: members.len(),
            rules: members
                .iter()
                .take(MAX_RULES_PER_FINDING)
                .map(evidence)
                .collect(),
            missing,
        }
    }

    /// Validates a data file, handing [`Event::Begin`] to `sink` once the data is open and
    /// readable, then each record's report in input order.
    pub fn run(
        &self,
        path: &Path,
        mut sink: impl FnMut(Event<'_>) -> io::Result<()>,
    ) -> Result<(Summary, RuleStats), ValidateError> {
        let shown = path.display().to_string();
        let format = match self.opts.input_format.or_else(|| Format::from_path(path)) {
            Some(f) => f,
            None => return Err(DataError::UnknownFormat { path: shown }.into()),
        };
        if path.is_dir() {
            return Err(DataError::IsDirectory { path: shown }.into());
        }
        let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
        let mut summary = Summary {
            rules_total: self.rules().rules.len(),
            ..Summary::default()
        };
        let mut stats = RuleStats::new(self.rules().rules.len());
        let mut begun = false;
        let mut emit = |(report, outcomes): (RecordReport, Vec<RuleOutcome>)| {
            if !std::mem::replace(&mut begun, true) {
                sink(Event::Begin).map_err(ValidateError::Output)?;
            }
            summary.add(&report);
            stats.add(&outcomes);
            sink(Event::Record(&report)).map_err(ValidateError::Output)
        };
        match format {
            Format::Tsv => {
                let mut b = GraphBuilder::new(&self.rules().symbols);
                tsv::read(&shown, BufReader::with_capacity(1 << 20, file), &mut b)?;
                let g = b.finish();
                emit(self.check_graph(&g, 0, 1, shown.clone()))?;
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
                    let reports: Vec<_> = chunk
                        .par_iter()
                        .enumerate()
                        .map(|(i, v)| self.check_value(&shown, v, c * chunk_len + i, 1))
                        .collect();
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
                    let reports: Vec<_> = chunk
                        .par_iter()
                        .map(|(index, line, text)| self.check_line(&shown, *index, *line, text))
                        .collect();
                    for r in reports {
                        emit(r)?;
                    }
                }
            }
        }
        if !begun {
            sink(Event::Begin).map_err(ValidateError::Output)?;
        }
        summary.rules_violated = stats.counts.iter().filter(|t| t.broken > 0).count();
        summary.rule_health = Some(stats.health(self.rules(), 20));
        Ok((summary, stats))
    }

    /// Checks a whole data file held in memory (one task of `pff run`): its reports in order
    /// and the per-rule counts, or the error that made it unreadable as a whole.
    pub fn check_bytes(
        &self,
        label: &str,
        format: Format,
        bytes: &[u8],
    ) -> Result<(Vec<RecordReport>, RuleStats), DataError> {
        let mut reports = Vec::new();
        let mut stats = RuleStats::new(self.rules().rules.len());
        let mut take = |(r, o): (RecordReport, Vec<RuleOutcome>)| {
            stats.add(&o);
            reports.push(r);
        };
        match format {
            Format::Tsv => {
                let mut b = GraphBuilder::new(&self.rules().symbols);
                tsv::read(label, bytes, &mut b)?;
                take(self.check_graph(&b.finish(), 0, 1, label.to_string()));
            }
            Format::Json => {
                let doc = json::parse(bytes).map_err(|e| e.into_data_error(label, bytes, 1))?;
                for (i, v) in json::records(&doc).into_iter().enumerate() {
                    take(self.check_value(label, v, i, 1));
                }
            }
            Format::Jsonl => {
                for item in json::JsonLines::new(bytes) {
                    let (index, line, text) = item.map_err(|e| DataError::io(label, e))?;
                    take(self.check_line(label, index, line, &text));
                }
            }
        }
        Ok((reports, stats))
    }

    /// Checks one JSON Lines record; a line that is not JSON fails that record alone.
    fn check_line(
        &self,
        path: &str,
        index: usize,
        line: usize,
        text: &[u8],
    ) -> (RecordReport, Vec<RuleOutcome>) {
        match json::parse(text) {
            Ok(v) => self.check_value(path, &v, index, line),
            Err(e) => {
                let err = e.into_data_error(path, text, line);
                (
                    RecordReport::failed(index, line, err.to_string()),
                    Vec::new(),
                )
            }
        }
    }

    fn check_value(
        &self,
        path: &str,
        v: &json::Json<'_>,
        index: usize,
        line: usize,
    ) -> (RecordReport, Vec<RuleOutcome>) {
        let mut b = GraphBuilder::new(&self.rules().symbols);
        match self.opts.mapping.record(v, index, &mut b) {
            Ok(name) => self.check_graph(&b.finish(), index, line, name),
            Err(found) => {
                let e = DataError::NotAnObject {
                    path: path.to_string(),
                    line,
                    index,
                    found,
                };
                (RecordReport::failed(index, line, e.to_string()), Vec::new())
            }
        }
    }
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
        let mut b = GraphBuilder::new(syms);
        mapping
            .record(v, index, &mut b)
            .map_err(|found| DataError::NotAnObject {
                path: shown.clone(),
                line,
                index,
                found,
            })?;
        Ok::<_, DataError>(b)
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
