//! A record's check in typed steps: [`RecordCheck`] (outcomes of chunks of rules) →
//! [`Ranked`] (findings ranked and cut) → [`Checked`] (with evidence) → the report.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::culprit;
use super::findings::KeptFindings;
use super::grouping::{
    Basis, Consequences, Key, LIFT, RULES_READ, Rank, add_culprits, empty_slot_score, empty_slots,
    one_per_value, reasons_of_rule, severity_of,
};
use super::kept::{Kept, MemberKey, TopMember, member_order};
use super::{FetchError, Options, Tally};
use crate::engine::{CheckResult, witness_bounded};
use crate::report::{
    FindingKind, LogSum, MAX_RULES_PER_FINDING, RecordReport, RuleCounts, Severity, SeverityCounts,
    score_of,
};
use crate::rules::{EntId, Priors, RelId, Rule, RuleSet};
use crate::triples::{Graph, RecordName};

/// One rule that applied to the record.
#[derive(Debug, Clone, Copy)]
struct RuleRow {
    rule: u32,
    line: u32,
    predicted: u64,
    correct: u64,
    confidence: f64,
    /// A prior of its head's value ([`says_a_prior`]).
    prior: bool,
}

/// Whether a rule says no more than how common its head's value is: a body-less rule (the
/// value's share among all). It holds for every record alike; only a rule that beats it tells
/// something about this one. Rules whose body names no constant (`lang(X,eng) <=
/// issn(X,A)`, AnyBURL's AC2 shape) say little more, but taking them as priors too cost
/// flights' empty cells, which only their fill rate finds (BENCHMARKS.md): they stay evidence.
fn says_a_prior(rule: &Rule) -> bool {
    rule.body.is_empty()
}

/// What a rule that holds must weigh to vouch for the value it predicts: more likely than not.
pub(super) const VOUCH: f64 = 0.5;

/// The confidence a rule needs to count as evidence beside a prior `p`: it multiplies the
/// prior's odds by `1 / (1 - LIFT)` (near a majority, it removes `LIFT` of the doubt).
fn beats(p: f64) -> f64 {
    p / (p + (1.0 - LIFT) * (1.0 - p))
}

/// What a violation weighs: the rule's confidence shared among its violations on the record
/// (`n`), or, when the groundings were counted (a row of one graph), the violation's share of
/// the rule's groundings: the value other rows give, weighed by how many of them give it (a
/// column's one odd value, which every other row's rule would otherwise predict with the
/// rule's full confidence, weighs one vote among all).
fn vote_share(confidence: f64, n: u64, support: Option<(u32, u64)>) -> f64 {
    match support {
        Some((votes, groundings)) if groundings > 0 => {
            confidence * votes as f64 / groundings as f64
        }
        _ => confidence / n as f64,
    }
}

/// The row of rule `rule` in rows ascending by rule.
fn row_in(rows: &[RuleRow], rule: u32) -> Option<&RuleRow> {
    let at = rows.binary_search_by_key(&rule, |r| r.rule).ok()?;
    Some(&rows[at])
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
    /// What each of them weighs on this triple (a rule copying peers' values weighs each
    /// value by its own votes, not by the votes of the rule's strongest value).
    weights: [f64; MAX_RULES_PER_FINDING],
    max_confidence: f64,
    /// The confidence of the body-less rule among the members (the predicted value's share
    /// of all values: what a rule must beat to say anything), 0 when none is.
    prior: f64,
}

impl RuleRow {
    /// The row's rule as a member weighing `weight` on some finding.
    fn key(&self, weight: f64) -> MemberKey {
        MemberKey {
            weight,
            confidence: self.confidence,
            line: self.line,
            rule: self.rule,
        }
    }
}

/// A group's members, strongest first, each with its rule's row and what it weighs on the
/// group's triple.
fn member_rows<'a>(
    rows: &'a [RuleRow],
    group: &'a Group,
) -> impl Iterator<Item = (&'a RuleRow, MemberKey)> + 'a {
    (0..group.len as usize)
        .filter_map(move |i| row_in(rows, group.top[i]).map(|row| (row, row.key(group.weights[i]))))
}

/// A group's members, strongest first, each with what it weighs on the group's triple.
fn members<'a>(rows: &'a [RuleRow], group: &'a Group) -> impl Iterator<Item = MemberKey> + 'a {
    member_rows(rows, group).map(|(_, m)| m)
}

/// The rules as strong as a group's strongest (same weight and confidence), so that which
/// comes first in the file does not matter.
fn tied_with_strongest<'a>(
    rows: &'a [RuleRow],
    group: &'a Group,
) -> impl Iterator<Item = u32> + 'a {
    let s = members(rows, group).next();
    members(rows, group)
        .filter(move |m| {
            s.is_some_and(|s| {
                m.weight.to_bits() == s.weight.to_bits()
                    && m.confidence.to_bits() == s.confidence.to_bits()
            })
        })
        .map(|m| m.rule)
}

/// Findings of `level` or higher among `counts`.
fn at_or_above(counts: &SeverityCounts, level: Severity) -> u64 {
    match level {
        Severity::Error => counts.error,
        Severity::Warning => counts.error + counts.warning,
        Severity::Info => counts.total(),
    }
}

/// The values a slot holds, by name (not by id: ids follow the order names were first seen),
/// at most [`MAX_PRESENT`].
fn present_values(g: &Graph<'_>, pairs: &[(EntId, EntId)]) -> Vec<EntId> {
    let mut v: Vec<EntId> = pairs.iter().map(|p| p.1).collect();
    v.sort_by(|a, b| g.entity_name(*a).cmp(g.entity_name(*b)));
    v.truncate(MAX_PRESENT);
    v
}

/// Present values listed in a conflict.
const MAX_PRESENT: usize = 5;

/// The node a finding on `key` blames: the node of the record that holds the slot's present
/// value (a derived triple's origin; the first present value by name), else the entry that
/// would hold it, else the missing triple's subject.
fn focus_of(g: &Graph<'_>, key: (EntId, RelId, EntId)) -> EntId {
    if !g.has_origins() {
        return key.0;
    }
    let present = g.rel(key.1).with_subject(key.0);
    present_values(g, present)
        .into_iter()
        .find_map(|p| g.origin(key.0, key.1, Some(p)))
        .or_else(|| g.origin(key.0, key.1, None))
        .unwrap_or(key.0)
}

/// Rules fetched for one record, each once: a record's ranking and evidence ask for the
/// same rules (from the store, each would be a read).
struct Fetched<F> {
    cache: FxHashMap<u32, Arc<Rule>>,
    fetch: F,
}

impl<F: FnMut(u32) -> Result<Arc<Rule>, FetchError>> Fetched<F> {
    /// Rule `r`, fetched at most once.
    fn get(&mut self, r: u32) -> Result<Arc<Rule>, FetchError> {
        fetch_once(&mut self.cache, r, &mut self.fetch)
    }
}

/// The ranking's total order, which does not depend on the order of the rules: score, rule
/// count, highest confidence, then the missing triple's names (subject, object, relation).
fn rank_order<'g>(g: &'g Graph<'_>) -> impl Fn(&Rank, &Rank) -> std::cmp::Ordering + Copy + 'g {
    move |a: &Rank, b: &Rank| {
        b.score
            .total_cmp(&a.score)
            .then(b.count.cmp(&a.count))
            .then(b.max_confidence.total_cmp(&a.max_confidence))
            .then_with(|| {
                let name = |k: (EntId, RelId, EntId)| {
                    (g.entity_name(k.0), g.entity_name(k.2), g.relation_name(k.1))
                };
                name(a.key).cmp(&name(b.key))
            })
    }
}

/// The findings kept, in order: those at or above `keep` (by their severity: it grows with the
/// score only within one [`Basis`]), at least the strongest few whatever their severity, at
/// most the cap; with the counts of all by severity, and whether the cap cut some at `keep`.
fn keep_ranks(
    ranks: Vec<Rank>,
    opts: &Options,
    order: impl Fn(&Rank, &Rank) -> std::cmp::Ordering,
) -> (Vec<Rank>, SeverityCounts, bool) {
    let mut finding_counts = SeverityCounts::default();
    for r in &ranks {
        finding_counts.add(severity_of(opts, r.score, r.basis), 1);
    }
    let at_keep = at_or_above(&finding_counts, opts.keep) as usize;
    let strongest = crate::defaults::STRONGEST_LISTED.min(ranks.len());
    // Severity grows with the score only among findings of one basis (a prior alone is never
    // an error, against a vouched value never above info): those at `keep` are picked by
    // their severity, not as a prefix of the ranking.
    let at = |r: &Rank| severity_of(opts, r.score, r.basis) >= opts.keep;
    let (mut ranks, mut rest): (Vec<Rank>, Vec<Rank>) = ranks.into_iter().partition(at);
    if rest.len() > strongest {
        rest.select_nth_unstable_by(strongest, &order);
        rest.truncate(strongest);
    }
    ranks.extend(rest);
    ranks.sort_unstable_by(&order);
    let mut i = 0;
    ranks.retain(|r| {
        i += 1;
        i <= strongest || at(r)
    });
    ranks.truncate(at_keep.max(strongest).min(opts.max_violations));
    (ranks, finding_counts, at_keep > opts.max_violations)
}

/// Rule `r` from `cache`, else fetched once and kept there (a record's ranking and evidence
/// ask for the same rules: from the store, each would be a read).
fn fetch_once(
    cache: &mut FxHashMap<u32, Arc<Rule>>,
    r: u32,
    fetch: &mut impl FnMut(u32) -> Result<Arc<Rule>, FetchError>,
) -> Result<Arc<Rule>, FetchError> {
    if let Some(rule) = cache.get(&r) {
        return Ok(rule.clone());
    }
    let rule = fetch(r)?;
    cache.insert(r, rule.clone());
    Ok(rule)
}

/// What a record's check counts besides its findings.
#[derive(Debug, Default)]
struct Counts {
    violated: usize,
    satisfied: usize,
    truncated: usize,
    skipped: usize,
    cut_before_match: usize,
    by_severity: SeverityCounts,
    /// Some rule kept fewer violations than it had (`max_violations_per_rule`).
    capped: bool,
}

/// Step 1 of a record's check (see the module): outcomes of chunks of rules, in rule order.
#[derive(Debug, Default)]
pub struct RecordCheck {
    counts: Counts,
    /// Missing triple (s, head relation, o) -> the violations predicting it.
    groups: FxHashMap<(EntId, RelId, EntId), Group>,
    /// Every rule that applied, ascending by rule index.
    rows: Vec<RuleRow>,
    /// Triples of the record that a rule with a body predicts and holds: the highest such
    /// rule's confidence (a prior-like rule vouches for nothing).
    held: FxHashMap<(EntId, RelId, EntId), f64>,
    /// Time spent checking this record (its time budget covers all chunks).
    spent: std::time::Duration,
    /// The work bound of a rule, for the witness searches of the evidence too.
    max_steps: u64,
}

/// Step 2: the findings ranked, the first `max_violations` kept, without evidence yet.
#[derive(Debug)]
pub struct Ranked {
    counts: Counts,
    rows: Vec<RuleRow>,
    max_steps: u64,
    /// Rules already fetched for this record (by the culprit search), for the evidence.
    fetched: FxHashMap<u32, Arc<Rule>>,
    /// The findings kept, in report order.
    kept: Vec<Kept>,
    finding_counts: SeverityCounts,
    findings_cut: bool,
}

/// Step 3: the findings kept with their evidence; ready for the report.
#[derive(Debug)]
pub struct Checked(Ranked);

impl RecordCheck {
    /// A check with no rule added yet.
    pub fn new() -> Self {
        Self {
            max_steps: u64::MAX,
            ..Self::default()
        }
    }

    /// A finding's evidence: its score and whether it is informative.
    ///
    /// Rules that predict one value are not independent witnesses: AnyBURL emits a body-less
    /// rule (the value's share of all values, its prior) and many rules whose bodies barely
    /// beat it (`emergency_service(X,yes) <= state(X,al)` at the majority's own rate), and a
    /// noisy-or over them counts one piece of evidence thirty times. When the group holds a
    /// body-less rule, only rules that beat its prior by [`LIFT`] of the remaining doubt count:
    /// the strongest of them leads, the others raise it halfway by their noisy-or (as
    /// [`score_of`]); the body-less rule and the rules that do not beat it add nothing. A
    /// group with no such rule scores its strongest weight alone and is not informative: its
    /// finding is never an error (a column's majority value is no proof). `prior` is the
    /// value's body-less rule's confidence in the whole set ([`Priors`]), which does not fire
    /// on an empty slot (`lang(X,eng) <= ` ranges over the subjects that give `lang`) though
    /// rules that only ask for some other value there (`lang(X,eng) <= issn(X,A)`) do. Groups
    /// of a value without a body-less rule score as [`score_of`] over all members.
    fn evidence_of(&self, group: &Group, prior: f64) -> Option<(f64, bool)> {
        let strongest = members(&self.rows, group).next()?;
        if prior <= 0.0 {
            return Some((score_of(strongest.weight, group.sum), true));
        }
        let bar = beats(prior);
        let lifting: Vec<f64> = member_rows(&self.rows, group)
            .filter(|(row, m)| !row.prior && m.confidence >= bar)
            .map(|(_, m)| m.weight)
            .collect();
        Some(match lifting.split_first() {
            None => (strongest.weight, false),
            Some((&s, rest)) => (
                s + (1.0 - s) * 0.5 * crate::report::noisy_or(rest.iter().copied()),
                true,
            ),
        })
    }

    /// Whether a rule with a body vouches for the present triple `t`: it predicts it, it holds,
    /// and it makes it more likely than not (its confidence, weighed by votes as a
    /// violation's is: one peer with the same typo among twenty does not vouch).
    fn vouched(&self, t: (EntId, RelId, EntId)) -> bool {
        self.held.get(&t).is_some_and(|&w| w > VOUCH)
    }

    /// The time this record's check has taken so far (its budget covers every chunk).
    pub fn spent(&self) -> std::time::Duration {
        self.spent
    }

    /// Adds the outcomes of one chunk of rules (`rules.rules[i]` is rule `ids[i]` of the whole
    /// set, or rule `i` when `ids` is `None`), checked in `took`. Chunks come in rule order.
    pub fn add_chunk(
        &mut self,
        rules: &RuleSet,
        ids: Option<&[u32]>,
        res: &CheckResult,
        opts: &Options,
        took: std::time::Duration,
    ) {
        self.spent += took;
        self.max_steps = opts.max_rule_work;
        self.counts.truncated += res.truncated;
        self.counts.skipped += res.skipped;
        self.rows.reserve(res.outcomes.len());
        for o in &res.outcomes {
            let rule = &rules.rules[o.rule as usize];
            let global = ids.map_or(o.rule, |ids| ids[o.rule as usize]);
            let n = o.violation_count();
            let votes = |i: usize| {
                let v = o.support.get(i).copied()?;
                Some((v, o.groundings))
            };
            let prior = says_a_prior(rule);
            self.rows.push(RuleRow {
                rule: global,
                line: rule.line,
                predicted: o.predicted,
                correct: o.correct,
                confidence: rule.confidence,
                prior,
            });
            self.counts.capped |= (o.violations.len() as u64) < o.violation_count();
            // Weighed by votes a rule's weight is at most its confidence: a rule at or below
            // the bar vouches for nothing (the engine keeps none of its held predictions).
            if rule.confidence > VOUCH && !prior {
                for (i, &(s, v)) in o.held.iter().enumerate() {
                    let votes = o.held_support.get(i).map(|&n| (n, o.groundings));
                    let at = self.held.entry((s, rule.head.rel, v)).or_insert(0.0);
                    *at = at.max(vote_share(rule.confidence, 1, votes));
                }
            }
            if o.predicted == 0 {
                // Cut short before its body matched: neither satisfied nor violated.
                self.counts.cut_before_match += 1;
                continue;
            }
            if n == 0 {
                self.counts.satisfied += 1;
                continue;
            }
            self.counts.violated += 1;
            self.counts
                .by_severity
                .add(opts.severity.of(rule.confidence), n);
            for (i, v) in o.violations.iter().enumerate() {
                let key = MemberKey {
                    weight: vote_share(rule.confidence, n, votes(i)),
                    confidence: rule.confidence,
                    line: rule.line,
                    rule: global,
                };
                self.add_violation((v.s, rule.head.rel, v.o), key, prior);
            }
        }
    }
    /// Adds a violation of the rule in the last row to the group of its missing triple.
    fn add_violation(&mut self, triple: (EntId, RelId, EntId), key: MemberKey, prior: bool) {
        let group = self.groups.entry(triple).or_insert(Group {
            sum: LogSum::default(),
            count: 0,
            len: 0,
            top: [0; MAX_RULES_PER_FINDING],
            weights: [0.0; MAX_RULES_PER_FINDING],
            max_confidence: 0.0,
            prior: 0.0,
        });
        if prior {
            group.prior = group.prior.max(key.confidence);
        }
        group.sum.add(key.weight);
        group.count += 1;
        group.max_confidence = group.max_confidence.max(key.confidence);
        let len = group.len as usize;
        // Members are few: the first that `key` goes before, by weight (the rule's row is read
        // only on a tie).
        let rows = &self.rows;
        let at = (0..len)
            .position(|i| match key.weight.total_cmp(&group.weights[i]) {
                std::cmp::Ordering::Equal => row_in(rows, group.top[i])
                    .is_none_or(|row| member_order(&row.key(group.weights[i]), &key).is_ge()),
                o => o.is_gt(),
            })
            .unwrap_or(len);
        if at < MAX_RULES_PER_FINDING {
            let end = len.min(MAX_RULES_PER_FINDING - 1);
            group.top.copy_within(at..end, at + 1);
            group.weights.copy_within(at..end, at + 1);
            group.top[at] = key.rule;
            group.weights[at] = key.weight;
            group.len = (len + 1).min(MAX_RULES_PER_FINDING) as u8;
        }
    }

    /// Ranks the findings (violations grouped by missing triple, by noisy-or score; one per
    /// node; culprits across nodes added, see `check::culprit`) and keeps the first
    /// `max_violations`, once every chunk was added. `fetch` hands back a rule by index (the
    /// culprit search reads the strongest conflicts' rules).
    pub fn rank(
        self,
        g: &Graph<'_>,
        opts: &Options,
        priors: &Priors,
        fetch: impl FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    ) -> Result<Ranked, FetchError> {
        let mut rules = Fetched {
            cache: FxHashMap::default(),
            fetch,
        };
        let order = rank_order(g);
        let ranks = self.scored(g, priors, &mut rules)?;
        let mut reasons: FxHashMap<Key, Vec<RelId>> = FxHashMap::default();
        // Slots in doubt: a finding at warning level or above blames them.
        let doubted: rustc_hash::FxHashSet<(EntId, RelId)> = ranks
            .iter()
            .filter(|r| r.score >= opts.severity.warning)
            .map(|r| (r.key.0, r.key.1))
            .collect();
        let (ranks, mut consequences) = one_per_value(ranks, order, |r, h| {
            let mine = self.reasons(r.key, &mut reasons, &mut rules)?;
            let theirs = self.reasons(h.key, &mut reasons, &mut rules)?;
            // An empty slot is missing whatever the value its rules rest on: it follows a
            // stronger finding only when its rules read that finding's slot.
            let empty = g.rel(r.key.1).with_subject(r.key.0).is_empty();
            // A slot both rest on explains both only if one wrong value there can: this
            // finding rests on it alone, or it is itself in doubt. A finding resting on
            // several slots none of which is doubted is a wrong value of its own (a table
            // row's city and county typos, each told by its zip, name and phone).
            let explains = |rel: &RelId| {
                theirs.contains(rel) && (mine.len() == 1 || doubted.contains(&(r.key.0, *rel)))
            };
            Ok(mine
                .iter()
                .any(|rel| *rel == h.key.1 || (!empty && explains(rel))))
        })?;
        let sources = self.culprit_sources(g, &ranks, order);
        let culprits = culprit::find(g, &sources, self.max_steps, &mut |r| rules.get(r))?;
        let groups = &self.groups;
        let ranks = add_culprits(
            ranks,
            &culprits,
            &mut consequences,
            |k| groups.get(k).map(|g| g.max_confidence),
            order,
        );
        let (ranks, finding_counts, findings_cut) = keep_ranks(ranks, opts, order);
        let kept = ranks
            .iter()
            .filter_map(|r| {
                let culprit = r.culprit.and_then(|i| culprits.get(i));
                let node = consequences.remove(&r.key).unwrap_or_default();
                self.kept(g, opts, r, culprit, node)
            })
            .collect();
        Ok(Ranked {
            counts: self.counts,
            rows: self.rows,
            max_steps: self.max_steps,
            fetched: rules.cache,
            kept,
            finding_counts,
            findings_cut,
        })
    }

    /// Every group scored: its evidence ([`Self::evidence_of`]), an empty slot's predictions
    /// summed ([`empty_slots`]; a slot of a relation a nested mapping derives is not summed:
    /// its values are the plain slot's, seen again), and its focus.
    fn scored<F>(
        &self,
        g: &Graph<'_>,
        priors: &Priors,
        rules: &mut Fetched<F>,
    ) -> Result<Vec<Rank>, FetchError>
    where
        F: FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    {
        // Each group's evidence, whether its slot is empty, and its focus (found once).
        let scored: Vec<(Key, &Group, f64, bool, bool, EntId)> = self
            .groups
            .iter()
            .filter_map(|(&key, group)| {
                let prior = group.prior.max(priors.of_triple(key));
                let (evidence, informative) = self.evidence_of(group, prior)?;
                let empty = g.rel(key.1).with_subject(key.0).is_empty();
                Some((key, group, evidence, informative, empty, focus_of(g, key)))
            })
            .collect();
        let summed: Vec<(Key, &Group, f64, bool, bool)> = scored
            .iter()
            .map(|&(key, group, e, i, empty, focus)| (key, group, e, i, empty && focus == key.0))
            .collect();
        let slots = empty_slots(
            &summed,
            |e| g.entity_name(e),
            |group| self.strongest_bodies(group, rules),
        )?;
        Ok(scored
            .iter()
            .map(|&(key, group, evidence, informative, empty, focus)| {
                let (evidence, informative) = match slots.get(&(key.0, key.1)) {
                    // The slot's strongest prediction speaks for the slot.
                    Some(slot) if slot.head == key => {
                        (slot.evidence(), informative || slot.informative)
                    }
                    _ => (evidence, informative),
                };
                // An empty slot counts its evidence twice only when a rule beats the prior:
                // predictions that do not are a column's usual values, and a column may be
                // empty as often as they miss.
                let score = if empty && informative {
                    empty_slot_score(evidence)
                } else {
                    evidence
                };
                let basis = if informative {
                    Basis::Rules
                } else if g
                    .rel(key.1)
                    .with_subject(key.0)
                    .iter()
                    .any(|&(s, v)| self.vouched((s, key.1, v)))
                {
                    Basis::PriorAgainstVouched
                } else {
                    Basis::Prior
                };
                Rank {
                    score,
                    max_confidence: group.max_confidence,
                    count: group.count,
                    key,
                    focus,
                    culprit: None,
                    basis,
                }
            })
            .collect())
    }

    /// The conditions of a group's strongest rule and of every rule tied with it (so that
    /// which one comes first in the file does not matter), sorted and distinct.
    fn strongest_bodies<F>(
        &self,
        group: &Group,
        rules: &mut Fetched<F>,
    ) -> Result<Vec<Arc<str>>, FetchError>
    where
        F: FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    {
        let mut bodies: Vec<Arc<str>> = Vec::with_capacity(group.len as usize);
        for r in tied_with_strongest(&self.rows, group) {
            let rule = rules.get(r)?;
            let body = rule.text.split_once("<=").map_or("", |(_, b)| b.trim());
            bodies.push(Arc::from(body));
        }
        bodies.sort_unstable();
        bodies.dedup();
        Ok(bodies)
    }

    /// The slots the strongest rules of the group on `k` rest on ([`reasons_of_rule`]), found
    /// once per group.
    fn reasons<F>(
        &self,
        k: Key,
        known: &mut FxHashMap<Key, Vec<RelId>>,
        rules: &mut Fetched<F>,
    ) -> Result<Vec<RelId>, FetchError>
    where
        F: FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    {
        if let Some(v) = known.get(&k) {
            return Ok(v.clone());
        }
        let mut v = Vec::new();
        if let Some(group) = self.groups.get(&k) {
            for &rule in group.top[..group.len as usize].iter().take(RULES_READ) {
                let rule = rules.get(rule)?;
                v.extend(reasons_of_rule(&rule));
            }
        }
        v.sort_unstable();
        v.dedup();
        known.insert(k, v.clone());
        Ok(v)
    }

    /// A finding kept, with what its node's other findings and its culprit (if it is one) add.
    fn kept(
        &self,
        g: &Graph<'_>,
        opts: &Options,
        r: &Rank,
        culprit: Option<&culprit::Culprit>,
        node: Consequences,
    ) -> Option<Kept> {
        // A culprit shows the strongest conflict it explains, with its rules.
        let key = culprit
            .and_then(|c| c.explains.first())
            .map_or(r.key, |e| e.0);
        let group = self.groups.get(&key)?;
        // A finding has a rule: `Kept::strongest` is the first.
        let top: Vec<MemberKey> = members(&self.rows, group).collect();
        if top.is_empty() {
            return None;
        }
        let present = g.rel(key.1).with_subject(key.0);
        Some(Kept {
            key,
            kind: match (culprit, present.is_empty()) {
                (Some(_), _) => FindingKind::Culprit,
                (None, true) => FindingKind::EmptySlot,
                (None, false) => FindingKind::Conflict,
            },
            culprit: culprit.map(|c| c.triple),
            explains: culprit.map_or_else(Vec::new, |c| c.explains.iter().map(|e| e.0).collect()),
            present: if culprit.is_some() {
                Vec::new()
            } else {
                present_values(g, present)
            },
            score: r.score,
            focus: r.focus,
            consequences: node.keys,
            consequence_count: node.count,
            with_evidence: severity_of(opts, r.score, r.basis) >= opts.keep,
            basis: r.basis,
            count: group.count,
            top,
            evidence: Vec::new(),
        })
    }

    /// The strongest [`culprit::SOURCES`] conflicts among the findings (one per node), for the
    /// culprit search.
    fn culprit_sources(
        &self,
        g: &Graph<'_>,
        ranks: &[Rank],
        order: impl Fn(&Rank, &Rank) -> std::cmp::Ordering,
    ) -> Vec<culprit::Source> {
        let mut conflicts: Vec<&Rank> = ranks
            .iter()
            .filter(|r| !g.rel(r.key.1).with_subject(r.key.0).is_empty())
            .collect();
        // Only the strongest few are needed: select them, then order them.
        if conflicts.len() > culprit::SOURCES {
            conflicts.select_nth_unstable_by(culprit::SOURCES, |a, b| order(a, b));
            conflicts.truncate(culprit::SOURCES);
        }
        conflicts.sort_unstable_by(|a, b| order(a, b));
        conflicts
            .into_iter()
            .filter_map(|r| {
                let group = self.groups.get(&r.key)?;
                // Every rule as strong as the strongest (the tie is broken by the rules' text,
                // not by their order in the file).
                let rules = tied_with_strongest(&self.rows, group).collect();
                Some(culprit::Source {
                    key: r.key,
                    focus: r.focus,
                    score: r.score,
                    rules,
                })
            })
            .collect()
    }
}

impl Ranked {
    /// Gathers the evidence of the findings kept: `fetch` hands back a rule by index.
    pub fn evidence(
        mut self,
        g: &Graph<'_>,
        mut fetch: impl FnMut(u32) -> Result<Arc<Rule>, FetchError>,
    ) -> Result<Checked, FetchError> {
        let mut rules = std::mem::take(&mut self.fetched);
        for i in 0..self.kept.len() {
            let kept = &self.kept[i];
            if !kept.with_evidence {
                continue;
            }
            let mut evidence = Vec::with_capacity(kept.top.len());
            for &m in &kept.top {
                let rule = fetch_once(&mut rules, m.rule, &mut fetch)?;
                let (Some(row), Some(binding)) = (
                    row_in(&self.rows, m.rule),
                    witness_bounded(&rule, g, kept.key.0, kept.key.2, self.max_steps),
                ) else {
                    continue;
                };
                evidence.push(TopMember {
                    key: m,
                    on_record: row.predicted - row.correct,
                    rule,
                    binding,
                });
            }
            self.kept[i].evidence = evidence;
        }
        Ok(Checked(self))
    }
}

impl Checked {
    /// Builds the report and hands back the per-rule tallies. `rules` gives the rule ids and
    /// relation names (any chunk of the rule set, or the set), `total` the number of rules in
    /// the whole set.
    pub fn finish(
        self,
        g: &Graph<'_>,
        rules: &RuleSet,
        total: usize,
        opts: &Options,
        record: RecordName,
    ) -> (RecordReport, Vec<Tally>) {
        let (mut report, findings, tallies) = self.into_parts(total, opts, g, record);
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
        record: RecordName,
    ) -> (RecordReport, KeptFindings, Vec<Tally>) {
        let Checked(this) = self;
        let c = &this.counts;
        let counts = RuleCounts {
            total,
            violated: c.violated,
            satisfied: c.satisfied,
            truncated: c.truncated,
            skipped: c.skipped,
            not_applicable: total - c.violated - c.satisfied - c.skipped - c.cut_before_match,
        };
        let truncated = this.findings_cut || (c.capped && opts.findings);
        let report = RecordReport {
            task: None,
            sequence: None,
            index: record.id.index,
            line: record.id.line,
            name: Some(record.name),
            error: None,
            triples: g.len(),
            rules: counts,
            violations: c.by_severity,
            finding_counts: this.finding_counts,
            findings: Vec::new(),
            truncated: truncated && opts.findings,
        };
        let tallies = this
            .rows
            .iter()
            .map(|r| (r.rule, r.predicted, r.correct))
            .collect();
        (report, KeptFindings(this.kept), tallies)
    }
}

#[cfg(test)]
#[path = "record_tests.rs"]
mod tests;
