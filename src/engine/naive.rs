//! A deliberately naive reading of `rules.md` §3, for cross-checking the engine: try every
//! assignment of entities to the rule's variables and keep those that satisfy the body and
//! object identity. Exponential in the number of variables; only for small graphs.

use std::collections::BTreeSet;

use crate::rules::{EntId, Rule, Side, Term};
use crate::triples::Graph;

/// The prediction set of `rule` on `g`, as `(s, o)` head pairs.
pub fn predictions(rule: &Rule, g: &Graph<'_>) -> BTreeSet<(EntId, EntId)> {
    let mut out = BTreeSet::new();
    let head = rule.head;
    if let Some(side) = rule.zero_side {
        let idx = g.rel(head.rel);
        let values: Vec<EntId> = match side {
            Side::Subject => idx.pairs().iter().map(|p| p.0).collect(),
            Side::Object => idx.pairs().iter().map(|p| p.1).collect(),
        };
        for x in values {
            if rule.consts.contains(&x) {
                continue;
            }
            let val = |t: Term| match t {
                Term::Const(c) => c,
                Term::Var(_) => x,
            };
            out.insert((val(head.s), val(head.o)));
        }
        return out;
    }
    let mut domain: Vec<EntId> = g.triples().flat_map(|(s, _, o)| [s, o]).collect();
    domain.sort_unstable();
    domain.dedup();
    let n = rule.vars.len();
    let mut assign = vec![0usize; n];
    if domain.is_empty() {
        return out;
    }
    loop {
        let value = |t: Term| match t {
            Term::Const(c) => c,
            Term::Var(v) => domain[assign[rule.vars.iter().position(|&u| u == v).unwrap_or(0)]],
        };
        let values: Vec<EntId> = assign.iter().map(|&i| domain[i]).collect();
        let distinct = values.iter().collect::<BTreeSet<_>>().len() == n;
        let no_const = values.iter().all(|v| !rule.consts.contains(v));
        if distinct
            && no_const
            && rule
                .body
                .iter()
                .all(|a| g.contains(value(a.s), a.rel, value(a.o)))
        {
            out.insert((value(head.s), value(head.o)));
        }
        // Next assignment (odometer).
        let mut i = 0;
        loop {
            if i == n {
                return out;
            }
            assign[i] += 1;
            if assign[i] < domain.len() {
                break;
            }
            assign[i] = 0;
            i += 1;
        }
    }
}
