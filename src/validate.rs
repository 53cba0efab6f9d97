//! Checking a data file against a rule set: read records, map them to triples, run the
//! engine, turn outcomes into reports. Records stream through in bounded chunks, checked in
//! parallel and handed on in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;

use rustc_hash::FxHashMap;

use crate::engine::{CheckOptions, Engine, witness_triples};
use crate::report::{
    Finding, MAX_RULES_PER_FINDING, RecordReport, RuleCounts, RuleDrift, RuleEvidence, RuleHealth,
    SeverityCounts, SeverityCuts, Summary, Triple, combined_score,
};
use crate::rules::{EntId, RelId, Rule, RuleCatalog, RuleSet, Symbols};
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

/// Per-rule counts summed over records (`--rule-stats`, rule health). Sparse: only the rules
/// that applied take memory, so a run over a million rules does not hold a million tallies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
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

    /// The counts of rule `rule` (zero when it never applied).
    pub fn get(&self, rule: usize) -> RuleTally {
        u32::try_from(rule)
            .ok()
            .and_then(|r| self.counts.get(&r))
            .copied()
            .unwrap_or_default()
    }

    /// Rules that applied at least once.
    pub fn applied(&self) -> usize {
        self.counts.len()
    }

    /// Rules broken on at least one record.
    pub fn broken(&self) -> usize {
        self.counts.values().filter(|t| t.broken > 0).count()
    }

    /// `(rule index, predicted, correct)` of the rules that applied, by index.
    pub fn rule_counts(&self) -> Vec<(usize, u64, u64)> {
        let mut v: Vec<_> = self
            .counts
            .iter()
            .map(|(&i, t)| (i as usize, t.predicted, t.correct))
            .collect();
        v.sort_unstable();
        v
    }

    /// Writes an AnyBURL rules file with the recomputed counts, one line per rule in order.
    pub fn write(&self, rules: &dyn RuleCatalog, out: &mut impl Write) -> io::Result<()> {
        let mut res = Ok(());
        rules
            .each_rule(&mut |i, _, rule| {
                if res.is_ok() {
                    let t = self.get(i);
                    let conf = t.observed();
                    res = writeln!(
                        out,
                        "{}\t{}\t{conf:?}\t{}",
                        t.predicted, t.correct, rule.text
                    );
                }
            })
            .map_err(io::Error::other)?;
        res
    }

    /// The rules that applied, with how far their observed confidence fell below the mined
    /// one, largest drop first, ties by rule order. One pass over `rules`.
    pub fn health_rows(&self, rules: &dyn RuleCatalog) -> io::Result<HealthRows> {
        let mut rows = Vec::with_capacity(self.counts.len());
        rules
            .each_rule(&mut |i, set, rule| {
                if let Some(&tally) = u32::try_from(i).ok().and_then(|k| self.counts.get(&k)) {
                    rows.push(HealthRow {
                        drop: rule.confidence - tally.observed(),
                        index: i,
                        rule_id: set.rule_id(rule),
                        text: rule.text.to_string(),
                        confidence: rule.confidence,
                        tally,
                    });
                }
            })
            .map_err(io::Error::other)?;
        rows.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.index.cmp(&b.index)));
        Ok(HealthRows {
            rows,
            total: self.rules,
        })
    }

    /// Which rules applied, and the `top` whose observed confidence dropped most below the
    /// mined one (ties by rule order).
    pub fn health(&self, rules: &dyn RuleCatalog, top: usize) -> io::Result<RuleHealth> {
        Ok(self.health_rows(rules)?.summary(top))
    }
}

/// One rule that applied, for `rule-health.tsv` and the rule health of a summary.
#[derive(Debug, Clone)]
pub struct HealthRow {
    drop: f64,
    index: usize,
    rule_id: String,
    text: String,
    confidence: f64,
    tally: RuleTally,
}

/// The rules that applied, largest confidence drop first (see [`RuleStats::health_rows`]).
#[derive(Debug, Clone)]
pub struct HealthRows {
    rows: Vec<HealthRow>,
    total: usize,
}

impl HealthRows {
    /// Every rule that applied, as TSV: id, records applied / held / broken, predicted,
    /// correct, mined and observed confidence, the drop, the rule; largest drop first (ties
    /// by rule order). Rules that never applied are counted in the last line.
    pub fn write(&self, out: &mut impl Write) -> io::Result<()> {
        writeln!(
            out,
            "rule_id\tapplied\theld\tbroken\tpredicted\tcorrect\tmined_confidence\tobserved_confidence\tdrop\trule"
        )?;
        for r in &self.rows {
            let t = &r.tally;
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:?}\t{:?}\t{:.6}\t{}",
                r.rule_id,
                t.applied,
                t.held,
                t.broken,
                t.predicted,
                t.correct,
                r.confidence,
                t.observed(),
                r.drop,
                r.text
            )?;
        }
        writeln!(
            out,
            "# never applied: {} of {} rules",
            self.total - self.rows.len(),
            self.total
        )
    }

    /// How many rules applied, and the `top` whose confidence dropped.
    pub fn summary(&self, top: usize) -> RuleHealth {
        RuleHealth {
            applied: self.rows.len(),
            never_applied: self.total - self.rows.len(),
            drift: self
                .rows
                .iter()
                .filter(|r| r.drop > 0.0 && r.tally.predicted > 0)
                .take(top)
                .map(|r| {
                    let t = &r.tally;
                    RuleDrift {
                        rule_id: r.rule_id.clone(),
                        rule: r.text.clone(),
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

/// What ranks a violation inside its finding (every member is kept, 24 bytes, so that the
/// score sees every weight in the same order however the rules were batched).
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

/// A member shown with its evidence (one of the first [`MAX_RULES_PER_FINDING`]).
#[derive(Debug)]
struct TopMember {
    key: MemberKey,
    rule: Arc<Rule>,
    binding: Box<[EntId]>,
    /// The rule's violations on this record.
    on_record: u64,
}

/// The violations that predict one missing triple.
#[derive(Debug, Default)]
struct Group {
    members: Vec<MemberKey>,
    /// The strongest members, in [`member_order`], at most [`MAX_RULES_PER_FINDING`].
    top: Vec<TopMember>,
}

/// The rules of one batch that evidence points to, shared by the records checked against it.
#[derive(Debug, Default)]
pub struct SharedRules(FxHashMap<u32, Arc<Rule>>);

impl SharedRules {
    fn get(&mut self, local: u32, rule: &Rule) -> Arc<Rule> {
        self.0
            .entry(local)
            .or_insert_with(|| Arc::new(rule.clone()))
            .clone()
    }
}

/// One record's check, built batch by batch of rules ([`Validator::check_into`]) and turned
/// into its report by [`RecordCheck::finish`]. Checking the whole rule set at once or in
/// batches gives the same report.
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
    tallies: Vec<Tally>,
    /// Time spent checking this record (its time budget covers all batches).
    spent: std::time::Duration,
}

impl RecordCheck {
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds the report: violations grouped by missing triple into findings, ranked by
    /// noisy-or score, the first `max_violations` kept; and the per-rule tallies.
    /// `rules` gives the rule ids and relation names (any batch of the rule set, or the set),
    /// `total` the number of rules in the whole set.
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
        struct Ranked {
            score: f64,
            max: f64,
            key: (EntId, RelId, EntId),
            group: Group,
        }
        let mut ranked: Vec<Ranked> = self
            .groups
            .into_iter()
            .map(|(key, mut group)| {
                group.members.sort_by(member_order);
                Ranked {
                    score: combined_score(group.members.iter().map(|m| m.weight)),
                    max: group
                        .members
                        .iter()
                        .map(|m| m.confidence)
                        .fold(0.0, f64::max),
                    key,
                    group,
                }
            })
            .collect();
        let mut finding_counts = SeverityCounts::default();
        for r in &ranked {
            finding_counts.add(opts.severity.of(r.score), 1);
        }
        ranked.sort_by(|a, b| {
            b.score
                .total_cmp(&a.score)
                .then(b.group.members.len().cmp(&a.group.members.len()))
                .then(b.max.total_cmp(&a.max))
                .then(a.group.members[0].line.cmp(&b.group.members[0].line))
                .then_with(|| {
                    let name = |k: (EntId, RelId, EntId)| (g.entity_name(k.0), g.entity_name(k.2));
                    name(a.key).cmp(&name(b.key))
                })
        });
        let truncated = ranked.len() > opts.max_violations || (self.capped && opts.findings);
        ranked.truncate(opts.max_violations);
        let findings = ranked
            .into_iter()
            .map(|r| finding(g, rules, opts, r.score, r.key, &r.group))
            .collect();
        let report = RecordReport {
            index,
            line,
            name: Some(name),
            error: None,
            triples: g.len(),
            rules: counts,
            violations: self.by_severity,
            finding_counts,
            findings,
            truncated: truncated && opts.findings,
        };
        (report, self.tallies)
    }
}

fn finding(
    g: &Graph<'_>,
    rules: &RuleSet,
    opts: &Options,
    score: f64,
    key: (EntId, RelId, EntId),
    group: &Group,
) -> Finding {
    let name = |id| g.entity_name(id).to_string();
    let rel = |id| rules.relation(id).to_string();
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
    let top = &group.top[0];
    let n = group.members.len();
    let message = if n == 1 {
        format!(
            "{} has no `{}` {}; a rule with confidence {:.2} expects it (score {:.3})",
            missing.subject, missing.relation, missing.object, top.key.confidence, score
        )
    } else {
        format!(
            "{} has no `{}` {}; {} rules expect it (strongest confidence {:.2}, score {:.3})",
            missing.subject, missing.relation, missing.object, n, top.key.confidence, score
        )
    };
    Finding {
        severity: opts.severity.of(score),
        score,
        message,
        focus: missing.subject.clone(),
        rule_count: n,
        rules: group.top.iter().map(evidence).collect(),
        missing,
    }
}

/// A rule set (or one batch of one) ready to check records.
pub struct Validator<'r> {
    engine: Engine<'r>,
    opts: Options,
    /// Index of the first rule in the whole rule set.
    offset: usize,
}

impl<'r> Validator<'r> {
    pub fn new(rules: &'r RuleSet, opts: Options) -> Self {
        Self::for_batch(rules, 0, opts)
    }

    /// A validator for rules `offset..offset + rules.len()` of a larger rule set.
    pub fn for_batch(rules: &'r RuleSet, offset: usize, opts: Options) -> Self {
        Self {
            engine: Engine::new(rules),
            opts,
            offset,
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
        let mut check = RecordCheck::new();
        self.check_into(&mut check, g, &mut SharedRules::default());
        let rules = self.rules();
        check.finish(g, rules, rules.rules.len(), &self.opts, index, line, name)
    }

    /// Checks this validator's rules on `g` and adds the outcomes to `check`. `shared` holds
    /// the rules evidence points to; pass the same one for every record checked against these
    /// rules.
    pub fn check_into(&self, check: &mut RecordCheck, g: &Graph<'_>, shared: &mut SharedRules) {
        let rules = self.rules();
        let started = std::time::Instant::now();
        let opts = CheckOptions {
            collect_violations: self.opts.findings,
            max_violations_per_rule: self.opts.max_violations_per_rule,
            max_steps_per_rule: self.opts.max_rule_work,
            deadline: self
                .opts
                .time_budget
                .map(|b| started + b.saturating_sub(check.spent)),
            set_at_a_time: true,
        };
        let res = if self.opts.parallel_rules {
            self.engine.check(g, opts)
        } else {
            self.engine.check_sequential(g, opts)
        };
        check.spent += started.elapsed();
        check.truncated += res.truncated;
        check.skipped += res.skipped;
        check.tallies.reserve(res.outcomes.len());
        for o in res.outcomes {
            let rule = &rules.rules[o.rule as usize];
            let global = (self.offset + o.rule as usize) as u32;
            check.tallies.push((global, o.predicted, o.correct));
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
            for v in o.violations {
                let group = check.groups.entry((v.s, rule.head.rel, v.o)).or_default();
                group.members.push(key);
                let at = group
                    .top
                    .partition_point(|t| member_order(&t.key, &key).is_lt());
                if at < MAX_RULES_PER_FINDING {
                    group.top.insert(
                        at,
                        TopMember {
                            key,
                            rule: shared.get(o.rule, rule),
                            binding: v.binding,
                            on_record: n,
                        },
                    );
                    group.top.truncate(MAX_RULES_PER_FINDING);
                }
            }
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
        summary.rules_violated = stats.broken();
        summary.rule_health = Some(
            stats
                .health(self.rules(), 20)
                .map_err(ValidateError::Output)?,
        );
        Ok((summary, stats))
    }

    /// Checks one JSON Lines record; a line that is not JSON fails that record alone.
    fn check_line(
        &self,
        path: &str,
        index: usize,
        line: usize,
        text: &[u8],
    ) -> (RecordReport, Vec<Tally>) {
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
    ) -> (RecordReport, Vec<Tally>) {
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
    let record = |v: &json::Json<'_>, index: usize, line: usize| {
        let mut b = GraphBuilder::new(symbols);
        let graph = match mapping.record(v, index, &mut b) {
            Ok(name) => Ok((b.finish(), name)),
            Err(found) => Err(DataError::NotAnObject {
                path: label.to_string(),
                line,
                index,
                found,
            }
            .to_string()),
        };
        Prepared { index, line, graph }
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
