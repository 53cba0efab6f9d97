//! Checking rules against a graph (`shared/spec/rules.md` §3).
//!
//! For every rule the engine computes the prediction set `P` (distinct head triples over all
//! body groundings that respect object identity), `predicted = |P|`, `correct = |P ∩ T|`, and
//! each violation (`P \ T`) with one witness grounding.
//!
//! Evaluation is grounding-at-a-time: a depth-first join over the body atoms in a greedy order
//! (checks first, then the atom with the smallest expected fan-out from what is bound). Once
//! the head variables are bound, the remaining atoms only need *one* completion, so the search
//! returns at the first witness and skips head tuples it has already produced.

mod index;
pub mod naive;
pub mod rows;
pub mod set;

use std::time::Instant;

use rayon::prelude::*;
use rustc_hash::FxHashSet;

use crate::rules::{Atom, EntId, Rule, RuleSet, Side, Term};
use crate::triples::Graph;

pub use index::{RuleIndex, store_candidates};

const UNBOUND: EntId = EntId::MAX;

/// What to collect while checking.
#[derive(Debug, Clone, Copy)]
pub struct CheckOptions {
    /// Keep violations (with witnesses); when false only counts are computed.
    pub collect_violations: bool,
    /// Keep at most this many violations per rule (all are still counted).
    pub max_violations_per_rule: usize,
    /// Bindings a rule may try before it is cut short and marked `truncated` (like PyClause's
    /// branching bound, but never silent).
    pub max_steps_per_rule: u64,
    /// Rules not started by then are skipped and counted; a rule running then is cut short.
    pub deadline: Option<Instant>,
    /// When violations are not collected, count cyclic chains set-at-a-time ([`set`]).
    pub set_at_a_time: bool,
    /// Keep each violation's witness binding (false: `binding` is empty; reports find their
    /// witnesses later with [`witness`]).
    pub witnesses: bool,
    /// With violations collected, keep the predictions that hold ([`RuleOutcome::held`]) of
    /// the rules whose confidence is above this (`None`: of none).
    pub held_above: Option<f64>,
}

impl Default for CheckOptions {
    fn default() -> Self {
        Self {
            collect_violations: true,
            max_violations_per_rule: usize::MAX,
            max_steps_per_rule: u64::MAX,
            deadline: None,
            set_at_a_time: true,
            witnesses: true,
            held_above: None,
        }
    }
}

/// A predicted head triple missing from the graph, with one witness grounding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Subject and object of the missing head triple (the relation is the head's).
    pub s: EntId,
    /// See `s`.
    pub o: EntId,
    /// The value of each of the rule's variables ([`Rule::vars`] order).
    pub binding: Box<[EntId]>,
}

/// The outcome of one rule on one graph.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleOutcome {
    /// Index of the rule in its [`RuleSet`].
    pub rule: u32,
    /// Groundings of the body on the graph (the head's subject and object bound).
    pub predicted: u64,
    /// Of those, groundings whose head triple is in the graph.
    pub correct: u64,
    /// The violations kept (see [`CheckOptions`]), in discovery order.
    pub violations: Vec<Violation>,
    /// The rule hit its work bound or the deadline: the counts are those found so far.
    pub truncated: bool,
    /// Checked for some subjects only ([`check_rule_for`]): each kept violation's support,
    /// the body groundings that give it (`violations[i]` has `support[i]`); empty otherwise.
    pub support: Vec<u32>,
    /// When violations are collected: the predictions that hold (head triples in the graph),
    /// as (subject, object), at most [`CheckOptions::max_violations_per_rule`].
    pub held: Vec<(EntId, EntId)>,
    /// With `support` ([`check_rule_for`]): each held prediction's support (`held[i]` has
    /// `held_support[i]`); empty otherwise.
    pub held_support: Vec<u32>,
    /// With `support`: the body groundings of every prediction, right or wrong, and, for a
    /// rule that takes its value from a peer ([`Rule::copies_head`]), each value the subject
    /// holds itself.
    pub groundings: u64,
}

impl RuleOutcome {
    /// `predicted - correct`: every violation, kept or not.
    pub fn violation_count(&self) -> u64 {
        self.predicted - self.correct
    }
}

/// The outcome of a rule set on one graph.
#[derive(Debug, Default)]
pub struct CheckResult {
    /// Rules whose body matched (`predicted > 0`), ascending by rule index.
    pub outcomes: Vec<RuleOutcome>,
    /// How many rules the index let through to evaluation.
    pub evaluated: usize,
    /// Rules cut short (work bound or deadline); their outcomes have `truncated` set.
    pub truncated: usize,
    /// Rules not checked at all because the deadline had passed.
    pub skipped: usize,
}

impl CheckResult {
    fn from_outcomes(all: Vec<Option<RuleOutcome>>) -> CheckResult {
        let evaluated = all.len();
        let skipped = all.iter().filter(|o| o.is_none()).count();
        let outcomes: Vec<RuleOutcome> = all
            .into_iter()
            .flatten()
            .filter(|o| o.predicted > 0 || o.truncated)
            .collect();
        CheckResult {
            truncated: outcomes.iter().filter(|o| o.truncated).count(),
            outcomes,
            evaluated,
            skipped,
        }
    }
}

/// `None` when the deadline passed before the rule started.
fn check_or_skip(
    ri: u32,
    rule: &Rule,
    g: &Graph<'_>,
    opts: CheckOptions,
    scratch: &mut Scratch,
) -> Option<RuleOutcome> {
    if opts.deadline.is_some_and(|d| Instant::now() >= d) {
        return None;
    }
    Some(check_rule(ri, rule, g, opts, scratch))
}

/// A rule set prepared for checking.
pub struct Engine<'r> {
    rules: &'r RuleSet,
    /// `None`: every rule is a candidate (the caller chose them for the graph).
    index: Option<RuleIndex>,
}

impl<'r> Engine<'r> {
    /// A matcher over the rules of `rules`.
    pub fn new(rules: &'r RuleSet) -> Self {
        Self {
            index: Some(RuleIndex::new(rules)),
            rules,
        }
    }

    /// An engine that tries every rule whose body relations and constants the graph holds,
    /// without building an index (for rules already chosen for the graph).
    pub fn unindexed(rules: &'r RuleSet) -> Self {
        Self { index: None, rules }
    }

    /// The rules that may apply to `graph`, ascending.
    pub fn candidates(&self, graph: &Graph<'_>) -> Vec<u32> {
        match &self.index {
            Some(ix) => ix.candidates(self.rules, graph),
            None => (0..self.rules.rules.len() as u32)
                .filter(|&i| index::may_apply(&self.rules.rules[i as usize], graph))
                .collect(),
        }
    }

    /// The rules matched.
    pub fn rules(&self) -> &'r RuleSet {
        self.rules
    }

    /// Checks every rule that can apply to `graph`, in parallel on the current rayon pool.
    pub fn check(&self, graph: &Graph<'_>, opts: CheckOptions) -> CheckResult {
        if !opts.collect_violations && opts.set_at_a_time {
            return self.count(graph, opts);
        }
        let candidates = self.candidates(graph);
        let all = candidates
            .par_iter()
            .with_min_len(64)
            .map_init(Scratch::default, |scratch, &ri| {
                check_or_skip(ri, &self.rules.rules[ri as usize], graph, opts, scratch)
            })
            .collect();
        CheckResult::from_outcomes(all)
    }

    /// Counts only (no violations): rules with the same cyclic chain body share one
    /// set-at-a-time evaluation; the others are checked one by one. In parallel.
    fn count(&self, graph: &Graph<'_>, opts: CheckOptions) -> CheckResult {
        let candidates = self.candidates(graph);
        let mut groups: rustc_hash::FxHashMap<set::Chain, Vec<u32>> = Default::default();
        let mut single: Vec<u32> = Vec::new();
        for &ri in &candidates {
            match set::chain(&self.rules.rules[ri as usize]) {
                Some(c) => groups.entry(c).or_default().push(ri),
                None => single.push(ri),
            }
        }
        let mut groups: Vec<(set::Chain, Vec<u32>)> = groups.into_iter().collect();
        // Deterministic work order (outcomes are sorted anyway).
        groups.sort_by_key(|(_, rules)| rules[0]);
        let grouped: Vec<Option<RuleOutcome>> = groups
            .par_iter()
            .with_max_len(1)
            .map_init(Scratch::default, |scratch, (chain, members)| {
                if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                    return members.iter().map(|_| None).collect::<Vec<_>>();
                }
                let group: Vec<(u32, &Rule)> = members
                    .iter()
                    .map(|&ri| (ri, &self.rules.rules[ri as usize]))
                    .collect();
                set::count_group(&group, *chain, graph, opts, &mut scratch.set)
                    .into_iter()
                    .map(Some)
                    .collect()
            })
            .flatten()
            .collect();
        let mut all: Vec<Option<RuleOutcome>> = single
            .par_iter()
            .with_min_len(64)
            .map_init(Scratch::default, |scratch, &ri| {
                check_or_skip(ri, &self.rules.rules[ri as usize], graph, opts, scratch)
            })
            .collect();
        all.extend(grouped);
        let mut res = CheckResult::from_outcomes(all);
        res.outcomes.sort_by_key(|o| o.rule);
        res
    }

    /// Checks on the calling thread only (for callers that parallelise over records).
    pub fn check_sequential(&self, graph: &Graph<'_>, opts: CheckOptions) -> CheckResult {
        let candidates = self.candidates(graph);
        let mut scratch = Scratch::default();
        let all = candidates
            .iter()
            .map(|&ri| {
                check_or_skip(
                    ri,
                    &self.rules.rules[ri as usize],
                    graph,
                    opts,
                    &mut scratch,
                )
            })
            .collect();
        CheckResult::from_outcomes(all)
    }
}

/// Per-thread buffers reused across rules.
#[derive(Default)]
pub struct Scratch {
    seen: FxHashSet<u64>,
    set: set::SetScratch,
    /// Groundings per head tuple ([`check_rule_for`]).
    support: rustc_hash::FxHashMap<u64, u32>,
}

/// Checks one rule (the entry point the property tests compare with [`naive`]).
pub fn check_rule(
    index: u32,
    rule: &Rule,
    g: &Graph<'_>,
    opts: CheckOptions,
    scratch: &mut Scratch,
) -> RuleOutcome {
    if !opts.collect_violations
        && opts.set_at_a_time
        && let Some(chain) = set::chain(rule)
    {
        return set::count(index, rule, chain, g, opts, &mut scratch.set);
    }
    scratch.seen.clear();
    let mut m = Matcher::new(index, rule, g, opts, &mut scratch.seen);
    match rule.zero_side {
        Some(side) => m.zero(side),
        None => {
            m.plan(0);
            m.search(0);
        }
    }
    m.out
}

/// Checks one rule for the head subjects `subjects` only (ascending, distinct): the outcome is
/// [`check_rule`]'s on the whole graph restricted to the predictions whose subject is one of
/// them (each subject is bound before the body is joined, so the work is that of the
/// subjects' neighbourhoods). A rule whose head subject is a constant is checked only when
/// that constant is one of them. Always grounding-at-a-time.
pub fn check_rule_for(
    index: u32,
    rule: &Rule,
    g: &Graph<'_>,
    opts: CheckOptions,
    scratch: &mut Scratch,
    subjects: &[EntId],
) -> RuleOutcome {
    scratch.seen.clear();
    scratch.support.clear();
    let mut m = Matcher::new(index, rule, g, opts, &mut scratch.seen);
    // Votes weigh violations: counting only (a recount) needs none.
    if opts.collect_violations {
        m.support = Some(&mut scratch.support);
    }
    match rule.head.s {
        Term::Const(c) => {
            if subjects.binary_search(&c).is_ok() {
                match rule.zero_side {
                    Some(side) => m.zero(side),
                    None => {
                        m.plan(0);
                        m.search(0);
                    }
                }
            }
        }
        Term::Var(v) => {
            let copies_head = rule.copies_head();
            for &s in subjects {
                if m.out.truncated {
                    break;
                }
                if !m.can_bind(v, s) {
                    continue;
                }
                m.b[v as usize] = s;
                let before = m.out.groundings;
                match rule.zero_side {
                    Some(side) => m.zero_at(side, v, s),
                    None => {
                        m.plan(1 << v);
                        m.search(0);
                    }
                }
                m.b[v as usize] = UNBOUND;
                // A rule that takes the value another subject gives in the head's relation
                // (`style(X,Y) <= name(X,A), name(B,A), style(B,Y)`) compares the subject with
                // its peers; the subject's own values are one witness each among them.
                if m.support.is_some() && m.out.groundings > before && copies_head {
                    m.out.groundings += g.rel(rule.head.rel).with_subject(s).len() as u64;
                }
            }
        }
    }
    let mut out = m.out;
    let support = |s: EntId, o: EntId| {
        let key = Matcher::key((s, o));
        scratch.support.get(&key).copied().unwrap_or(1)
    };
    out.support = out.violations.iter().map(|v| support(v.s, v.o)).collect();
    out.held_support = out.held.iter().map(|&(s, o)| support(s, o)).collect();
    out
}

/// The witness of a violation known to exist: the binding of `rule`'s variables
/// ([`Rule::vars`] order) of the first body grounding found with the head bound to `(s, o)`.
/// `None` when the body does not hold for that head. Deterministic for a graph and rule;
/// reports use it for their evidence, so the evidence does not depend on how rules were
/// batched.
pub fn witness(rule: &Rule, g: &Graph<'_>, s: EntId, o: EntId) -> Option<Box<[EntId]>> {
    witness_bounded(rule, g, s, o, u64::MAX)
}

/// [`witness`], giving up (`None`) after `max_steps` bindings.
pub fn witness_bounded(
    rule: &Rule,
    g: &Graph<'_>,
    s: EntId,
    o: EntId,
    max_steps: u64,
) -> Option<Box<[EntId]>> {
    let mut seen = FxHashSet::default();
    let opts = CheckOptions {
        collect_violations: true,
        max_violations_per_rule: 1,
        max_steps_per_rule: max_steps,
        ..CheckOptions::default()
    };
    let mut m = Matcher::new(0, rule, g, opts, &mut seen);
    let mut bound = 0u32;
    for (t, x) in [(rule.head.s, s), (rule.head.o, o)] {
        match t {
            Term::Var(v) => {
                if m.b[v as usize] != UNBOUND && m.b[v as usize] != x {
                    return None;
                }
                m.b[v as usize] = x;
                bound |= 1 << v;
            }
            Term::Const(c) if c != x => return None,
            Term::Const(_) => {}
        }
    }
    if rule.body.is_empty() {
        m.emit();
    } else {
        m.plan(bound);
        m.search(0);
    }
    m.out.violations.pop().map(|v| v.binding)
}

struct Matcher<'a, 'g> {
    rule: &'a Rule,
    g: &'a Graph<'g>,
    opts: CheckOptions,
    /// Current binding of each variable.
    b: [EntId; 26],
    seen: &'a mut FxHashSet<u64>,
    out: RuleOutcome,
    /// Body atom indices in evaluation order.
    order: [u8; crate::rules::parse::MAX_BODY_ATOMS],
    /// After `order[..head_level]` all head variables are bound.
    head_level: usize,
    /// Bindings tried so far (the work bound).
    steps: u64,
    /// Counting each head tuple's groundings (a row of one graph: [`check_rule_for`]): every
    /// grounding reaches [`Self::emit`], which counts it here and in `out.groundings`.
    support: Option<&'a mut rustc_hash::FxHashMap<u64, u32>>,
}

impl<'a, 'g> Matcher<'a, 'g> {
    /// A matcher of rule number `index` on `g`, nothing bound.
    fn new(
        index: u32,
        rule: &'a Rule,
        g: &'a Graph<'g>,
        opts: CheckOptions,
        seen: &'a mut FxHashSet<u64>,
    ) -> Self {
        Matcher {
            rule,
            g,
            opts,
            b: [UNBOUND; 26],
            seen,
            out: RuleOutcome {
                rule: index,
                ..RuleOutcome::default()
            },
            order: [0; crate::rules::parse::MAX_BODY_ATOMS],
            head_level: 0,
            steps: 0,
            support: None,
        }
    }
    #[inline]
    fn value(&self, t: Term) -> Option<EntId> {
        match t {
            Term::Const(c) => Some(c),
            Term::Var(v) => Some(self.b[v as usize]).filter(|&x| x != UNBOUND),
        }
    }

    /// Counts one step; true (and the outcome marked truncated) once the rule's work bound or
    /// the deadline is passed. The clock is read every 4096 steps.
    #[inline]
    fn over_budget(&mut self) -> bool {
        if self.out.truncated {
            return true;
        }
        self.steps += 1;
        let late = self.steps.is_multiple_of(4096)
            && self.opts.deadline.is_some_and(|d| Instant::now() >= d);
        if self.steps > self.opts.max_steps_per_rule || late {
            self.out.truncated = true;
        }
        self.out.truncated
    }

    /// Object identity: `val` may go to `v` when no other variable holds it and it is not a
    /// constant of the rule.
    #[inline]
    fn can_bind(&self, v: u8, val: EntId) -> bool {
        !self.rule.consts.contains(&val)
            && self
                .rule
                .vars
                .iter()
                .all(|&u| u == v || self.b[u as usize] != val)
    }

    /// The head tuple under the current binding (all head variables bound).
    #[inline]
    fn head(&self) -> (EntId, EntId) {
        let h = &self.rule.head;
        // Callers guarantee the head variables are bound.
        (
            self.value(h.s).unwrap_or(UNBOUND),
            self.value(h.o).unwrap_or(UNBOUND),
        )
    }

    #[inline]
    fn key((s, o): (EntId, EntId)) -> u64 {
        ((s as u64) << 32) | o as u64
    }

    fn emit(&mut self) {
        let (s, o) = self.head();
        if let Some(support) = self.support.as_deref_mut() {
            *support.entry(Self::key((s, o))).or_insert(0) += 1;
            self.out.groundings += 1;
        }
        if !self.seen.insert(Self::key((s, o))) {
            return;
        }
        self.out.predicted += 1;
        if self.g.rel(self.rule.head.rel).contains(s, o) {
            self.out.correct += 1;
            if self.opts.collect_violations
                && self
                    .opts
                    .held_above
                    .is_some_and(|c| self.rule.confidence > c)
                && self.out.held.len() < self.opts.max_violations_per_rule
            {
                self.out.held.push((s, o));
            }
        } else if self.opts.collect_violations
            && self.out.violations.len() < self.opts.max_violations_per_rule
        {
            let binding = if self.opts.witnesses {
                self.rule.vars.iter().map(|&v| self.b[v as usize]).collect()
            } else {
                Box::default()
            };
            self.out.violations.push(Violation { s, o, binding });
        }
    }

    /// Zero rules: `h(X,c) <= ` lets X range over the subjects of h (X != c), `h(c,Y) <= `
    /// lets Y range over its objects; with `me_myself_i` the head is `h(x,x)`.
    fn zero(&mut self, side: Side) {
        let head = self.rule.head;
        let (var, idx) = match side {
            Side::Subject => (head.s, self.g.rel(head.rel)),
            Side::Object => (head.o, self.g.rel(head.rel)),
        };
        let Term::Var(v) = var else { return };
        let values: Box<dyn Iterator<Item = EntId>> = match side {
            Side::Subject => Box::new(idx.subjects()),
            Side::Object => Box::new(idx.objects()),
        };
        for x in values {
            if self.over_budget() {
                break;
            }
            if !self.can_bind(v, x) {
                continue;
            }
            self.b[v as usize] = x;
            self.emit();
        }
        self.b[v as usize] = UNBOUND;
    }

    /// [`Self::zero`] with its variable `v` already bound to `x`: the one prediction when `x`
    /// is among the values the zero rule ranges over.
    fn zero_at(&mut self, side: Side, v: u8, x: EntId) {
        let head = self.rule.head;
        let idx = self.g.rel(head.rel);
        let (var, ranges) = match side {
            Side::Subject => (head.s, !idx.with_subject(x).is_empty()),
            Side::Object => (head.o, !idx.with_object(x).is_empty()),
        };
        if var == Term::Var(v) && ranges && !self.over_budget() {
            self.emit();
        }
    }

    /// Orders the body greedily by expected fan-out given what is already bound.
    /// `bound`: the variables bound before the search starts (a bit per variable).
    fn plan(&mut self, mut bound: u32) {
        let body = &self.rule.body;
        let n = body.len();
        let mut used: u64 = 0;
        let head_vars: u32 = [self.rule.head.s, self.rule.head.o]
            .iter()
            .filter_map(|t| t.var())
            .fold(0, |m, v| m | (1 << v));
        self.head_level = if bound & head_vars == head_vars { 0 } else { n };
        let is_bound = |t: Term, bound: u32| match t {
            Term::Const(_) => true,
            Term::Var(v) => bound & (1 << v) != 0,
        };
        for k in 0..n {
            let mut best = (f64::INFINITY, 0usize);
            for (i, a) in body.iter().enumerate() {
                if used & (1 << i) != 0 {
                    continue;
                }
                let cost = self.cost(a, is_bound(a.s, bound), is_bound(a.o, bound));
                if cost < best.0 {
                    best = (cost, i);
                }
            }
            let a = body[best.1];
            used |= 1 << best.1;
            self.order[k] = best.1 as u8;
            for v in [a.s.var(), a.o.var()].into_iter().flatten() {
                bound |= 1 << v;
            }
            if bound & head_vars == head_vars && self.head_level == n {
                self.head_level = k + 1;
            }
        }
    }

    fn cost(&self, a: &Atom, s_bound: bool, o_bound: bool) -> f64 {
        let idx = self.g.rel(a.rel);
        let len = idx.len() as f64;
        match (s_bound, o_bound) {
            (true, true) => 0.0,
            (true, false) => len / idx.distinct_subjects().max(1) as f64,
            (false, true) => len / idx.distinct_objects().max(1) as f64,
            // Unconnected atoms come last; among them the smallest relation first.
            (false, false) => 1e12 + len,
        }
    }

    /// Depth-first join over `order[k..]`; true when a completion was found.
    fn search(&mut self, k: usize) -> bool {
        // A head tuple already found is not searched again, unless its groundings are
        // counted (then each one is completed once, and counted by `emit`).
        if k == self.head_level
            && self.support.is_none()
            && self.seen.contains(&Self::key(self.head()))
        {
            return false;
        }
        if k == self.rule.body.len() {
            self.emit();
            return true;
        }
        let existential = k >= self.head_level;
        let a = self.rule.body[self.order[k] as usize];
        let idx = self.g.rel(a.rel);
        match (self.value(a.s), self.value(a.o)) {
            (Some(s), Some(o)) => idx.contains(s, o) && self.search(k + 1),
            (Some(s), None) => {
                let Term::Var(v) = a.o else { return false };
                self.extend(v, idx.with_subject(s).iter().map(|p| p.1), k, existential)
            }
            (None, Some(o)) => {
                let Term::Var(v) = a.s else { return false };
                self.extend(v, idx.with_object(o).iter().map(|p| p.1), k, existential)
            }
            (None, None) => {
                let (Term::Var(vs), Term::Var(vo)) = (a.s, a.o) else {
                    return false;
                };
                if vs == vo {
                    let reflexive = idx.pairs().iter().filter(|p| p.0 == p.1).map(|p| p.0);
                    return self.extend(vs, reflexive, k, existential);
                }
                let mut found = false;
                for &(s, o) in idx.pairs() {
                    if self.over_budget() {
                        return found;
                    }
                    if !self.can_bind(vs, s) {
                        continue;
                    }
                    self.b[vs as usize] = s;
                    if self.can_bind(vo, o) {
                        self.b[vo as usize] = o;
                        found |= self.search(k + 1);
                        self.b[vo as usize] = UNBOUND;
                    }
                    self.b[vs as usize] = UNBOUND;
                    if found && existential {
                        return true;
                    }
                }
                found
            }
        }
    }

    /// Binds `v` to each value in turn and searches on.
    #[inline]
    fn extend(
        &mut self,
        v: u8,
        values: impl Iterator<Item = EntId>,
        k: usize,
        existential: bool,
    ) -> bool {
        let mut found = false;
        for x in values {
            if self.over_budget() {
                return found;
            }
            if !self.can_bind(v, x) {
                continue;
            }
            self.b[v as usize] = x;
            found |= self.search(k + 1);
            self.b[v as usize] = UNBOUND;
            if found && existential {
                return true;
            }
        }
        found
    }
}

/// The body triples of a witness, in body order, as `(s, r, o)` ids.
pub fn witness_triples(rule: &Rule, binding: &[EntId]) -> Vec<(EntId, u32, EntId)> {
    let val = |t: Term| match t {
        Term::Const(c) => c,
        Term::Var(v) => rule
            .vars
            .iter()
            .position(|&u| u == v)
            .map_or(UNBOUND, |i| binding[i]),
    };
    rule.body
        .iter()
        .map(|a| (val(a.s), a.rel, val(a.o)))
        .collect()
}

#[cfg(test)]
mod tests;
