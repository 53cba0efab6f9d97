//! Set-at-a-time counting for cyclic chains, the rules that dominate whole-graph statistics.
//!
//! A cyclic rule of length n is a chain from the head's subject to its object:
//!
//! ```text
//! h(X,Y) <= b1(X,A), b2(A,B), b3(B,Y)        (each atom may be written either way round)
//! ```
//!
//! For every X the engine computes the set `S_X` of Y the chain reaches, with object identity
//! (X, A, B, Y pairwise distinct) applied exactly; then `predicted = sum |S_X|` and
//! `correct = sum |S_X ∩ h(X,·)|`. No grounding is enumerated twice:
//!
//! - length 2: `S_X = ∪_{A ∈ b1[X] \ {X}} b2[A] \ {A, X}`, collected in a bitset over entities;
//! - length 3: first the B frontier, with how many distinct A reach each B (capped at 2) and,
//!   when only one does, which: then `Y ∈ b3[B] \ {X, B}` is valid unless the one A reaching B
//!   is Y itself. The cost is `Σ_A |b2[A]| + Σ_B |b3[B]|` per X instead of the number of paths.
//!
//! Witnesses are not produced: this path serves counts (`--rule-stats`, `--counts-only`);
//! reports use the grounding-at-a-time matcher.

use std::time::Instant;

use crate::rules::{RelId, Rule, Term};
use crate::triples::Graph;

use super::{CheckOptions, RuleOutcome};

/// One body atom as a step of the chain: `rel(prev,next)` (forward) or `rel(next,prev)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Step {
    rel: RelId,
    forward: bool,
}

/// A cyclic rule as a chain from the head's subject to its object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Chain {
    steps: [Step; 3],
    len: usize,
}

/// The chain of `rule` when it is a cyclic rule of length 1-3 with distinct variables, no
/// constants and no reflexive atoms; `None` otherwise.
pub fn chain(rule: &Rule) -> Option<Chain> {
    let (Term::Var(x), Term::Var(y)) = (rule.head.s, rule.head.o) else {
        return None;
    };
    let n = rule.body.len();
    if x == y || !(1..=3).contains(&n) || !rule.consts.is_empty() || rule.vars.len() != n + 1 {
        return None;
    }
    let mut steps = [Step {
        rel: 0,
        forward: true,
    }; 3];
    let mut used = [false; 3];
    let mut cur = x;
    for step in steps.iter_mut().take(n) {
        let (i, next, forward) = rule.body.iter().enumerate().find_map(|(i, a)| {
            if used[i] {
                return None;
            }
            match (a.s, a.o) {
                (Term::Var(s), Term::Var(o)) if s == cur && o != cur => Some((i, o, true)),
                (Term::Var(s), Term::Var(o)) if o == cur && s != cur => Some((i, s, false)),
                _ => None,
            }
        })?;
        used[i] = true;
        *step = Step {
            rel: rule.body[i].rel,
            forward,
        };
        cur = next;
    }
    (cur == y).then_some(Chain { steps, len: n })
}

/// Reusable per-thread buffers.
#[derive(Default)]
pub struct SetScratch {
    bits: Vec<u64>,
    touched: Vec<u32>,
    count: Vec<u8>,
    first: Vec<u32>,
    frontier: Vec<u32>,
}

impl SetScratch {
    fn fit(&mut self, n: usize) {
        if self.count.len() < n {
            self.bits.resize(n.div_ceil(64), 0);
            self.count.resize(n, 0);
            self.first.resize(n, 0);
        }
    }

    /// Adds `y`; true when it was new.
    #[inline]
    fn insert(&mut self, y: u32) -> bool {
        let (w, b) = ((y / 64) as usize, y % 64);
        let new = self.bits[w] & (1 << b) == 0;
        if new {
            self.bits[w] |= 1 << b;
            self.touched.push(y);
        }
        new
    }

    #[inline]
    fn contains(&self, y: u32) -> bool {
        self.bits[(y / 64) as usize] & (1 << (y % 64)) != 0
    }

    fn clear_set(&mut self) {
        for &y in &self.touched {
            self.bits[(y / 64) as usize] = 0;
        }
        self.touched.clear();
    }
}

/// The next entities of `step` from `from`.
#[inline]
fn next<'g>(g: &'g Graph<'_>, step: Step, from: u32) -> impl Iterator<Item = u32> + 'g {
    let idx = g.rel(step.rel);
    let pairs = if step.forward {
        idx.with_subject(from)
    } else {
        idx.with_object(from)
    };
    pairs.iter().map(|p| p.1)
}

/// Counts `predicted` and `correct` of a chain rule on `g`.
pub fn count(
    index: u32,
    rule: &Rule,
    chain: Chain,
    g: &Graph<'_>,
    opts: CheckOptions,
    s: &mut SetScratch,
) -> RuleOutcome {
    count_group(&[(index, rule)], chain, g, opts, s)
        .pop()
        .unwrap_or_default()
}

/// Counts every rule of `group`, all with the body `chain` (AnyBURL writes one body with
/// many heads): each `S_X` is computed once and tested against each head. The work bound
/// applies to the group; when it is hit every rule of the group is marked truncated.
pub fn count_group(
    group: &[(u32, &Rule)],
    chain: Chain,
    g: &Graph<'_>,
    opts: CheckOptions,
    s: &mut SetScratch,
) -> Vec<RuleOutcome> {
    let mut outs: Vec<RuleOutcome> = group
        .iter()
        .map(|&(rule, _)| RuleOutcome {
            rule,
            ..RuleOutcome::default()
        })
        .collect();
    let heads: Vec<_> = group.iter().map(|(_, r)| g.rel(r.head.rel)).collect();
    let mut truncated = false;
    s.fit(g.entity_bound());
    let first = chain.steps[0];
    let idx = g.rel(first.rel);
    let sources: Vec<u32> = if first.forward {
        idx.subjects().collect()
    } else {
        idx.objects().collect()
    };
    let mut steps: u64 = 0;
    let mut over = |n: u64| {
        steps += n;
        steps > opts.max_steps_per_rule
            || (steps & 0xfff < n && opts.deadline.is_some_and(|d| Instant::now() >= d))
    };
    for x in sources {
        let fill = fill_row(g, chain, x, s, &mut over);
        if fill == Fill::CutBeforeCount {
            truncated = true;
            break;
        }
        truncated |= fill == Fill::Cut;
        for (out, head) in outs.iter_mut().zip(&heads) {
            out.predicted += s.touched.len() as u64;
            // Correct: the head row of x tested against the set, or the set against the head
            // index, whichever is smaller.
            let row = head.with_subject(x);
            out.correct += if row.len() < s.touched.len() {
                row.iter().filter(|p| s.contains(p.1)).count()
            } else {
                s.touched.iter().filter(|&&y| head.contains(x, y)).count()
            } as u64;
        }
        s.clear_set();
        if truncated {
            break;
        }
    }
    s.clear_set();
    for o in &mut outs {
        o.truncated = truncated;
    }
    outs
}

/// How filling one row's set ended.
#[derive(Debug, PartialEq, Eq)]
enum Fill {
    Complete,
    /// The work bound was hit; the row's set is whole enough to count (length 3: the frontier
    /// was cut, what it reached is counted).
    Cut,
    /// The work bound was hit mid-row (length 2): the row is not counted.
    CutBeforeCount,
}

/// Fills `s` with `S_X`, the objects the chain reaches from `x` under object identity.
fn fill_row(
    g: &Graph<'_>,
    chain: Chain,
    x: u32,
    s: &mut SetScratch,
    over: &mut impl FnMut(u64) -> bool,
) -> Fill {
    let first = chain.steps[0];
    match chain.len {
        1 => {
            for y in next(g, first, x) {
                if y != x {
                    s.insert(y);
                }
            }
            Fill::Complete
        }
        2 => {
            for a in next(g, first, x) {
                if a == x {
                    continue;
                }
                let mut n = 0;
                for y in next(g, chain.steps[1], a) {
                    n += 1;
                    if y != a && y != x {
                        s.insert(y);
                    }
                }
                if over(n + 1) {
                    return Fill::CutBeforeCount;
                }
            }
            Fill::Complete
        }
        _ => fill_length3(g, chain, x, s, over),
    }
}

/// Length 3: the B frontier with, per B, how many distinct A reach it (capped at 2), then the
/// objects of each B, excluding the only A where there is one.
fn fill_length3(
    g: &Graph<'_>,
    chain: Chain,
    x: u32,
    s: &mut SetScratch,
    over: &mut impl FnMut(u64) -> bool,
) -> Fill {
    let mut truncated = false;
    for a in next(g, chain.steps[0], x) {
        if a == x {
            continue;
        }
        let mut n = 0;
        for b in next(g, chain.steps[1], a) {
            n += 1;
            if b == a || b == x {
                continue;
            }
            let c = &mut s.count[b as usize];
            if *c == 0 {
                s.first[b as usize] = a;
                s.frontier.push(b);
            }
            *c = (*c + 1).min(2);
        }
        if over(n + 1) {
            truncated = true;
            break;
        }
    }
    let frontier = std::mem::take(&mut s.frontier);
    for &b in &frontier {
        let only_a = (s.count[b as usize] == 1).then(|| s.first[b as usize]);
        let mut n = 0;
        for y in next(g, chain.steps[2], b) {
            n += 1;
            if y != x && y != b && Some(y) != only_a {
                s.insert(y);
            }
        }
        if !truncated && over(n + 1) {
            truncated = true;
        }
        s.count[b as usize] = 0;
    }
    s.frontier = frontier;
    s.frontier.clear();
    if truncated { Fill::Cut } else { Fill::Complete }
}
