//! Which rules can apply to a graph, found without looking at the others.
//!
//! A rule can only fire when the graph has every body relation, and for every body atom with a
//! constant, a triple of that relation with that constant in that place. Each rule is filed
//! under one such requirement (its *anchor*): a `(relation, constant)` pair when the body has
//! a constant (most selective), else its body relation used by the fewest rules; a zero rule
//! under its head relation. A graph then visits only the anchors it holds.

use rustc_hash::FxHashMap;

use crate::intern::Id;
use crate::rules::{RelId, Rule, RuleSet, Term};
use crate::triples::Graph;

#[derive(Debug, Default)]
pub struct RuleIndex {
    by_rel: FxHashMap<RelId, Vec<u32>>,
    by_subject: FxHashMap<(RelId, Id), Vec<u32>>,
    by_object: FxHashMap<(RelId, Id), Vec<u32>>,
    /// Relations that anchor some rule by a constant (so their entities are worth visiting).
    const_rels: Vec<bool>,
    /// Entities below this id are rule constants.
    n_constants: Id,
}

impl RuleIndex {
    pub fn new(rules: &RuleSet) -> Self {
        let mut uses: FxHashMap<RelId, u32> = FxHashMap::default();
        for r in &rules.rules {
            for a in r.body.iter() {
                *uses.entry(a.rel).or_default() += 1;
            }
        }
        let mut ix = RuleIndex {
            const_rels: vec![false; rules.symbols.relations.len()],
            n_constants: rules.symbols.entities.len() as Id,
            ..Default::default()
        };
        for (i, r) in rules.rules.iter().enumerate() {
            let i = i as u32;
            if r.body.is_empty() {
                ix.by_rel.entry(r.head.rel).or_default().push(i);
                continue;
            }
            let with_const = r.body.iter().find_map(|a| match (a.s, a.o) {
                (Term::Const(c), _) => Some((true, a.rel, c)),
                (_, Term::Const(c)) => Some((false, a.rel, c)),
                _ => None,
            });
            match with_const {
                Some((subject, rel, c)) => {
                    ix.const_rels[rel as usize] = true;
                    let map = if subject {
                        &mut ix.by_subject
                    } else {
                        &mut ix.by_object
                    };
                    map.entry((rel, c)).or_default().push(i);
                }
                None => {
                    let rarest = r
                        .body
                        .iter()
                        .map(|a| a.rel)
                        .min_by_key(|rel| uses.get(rel).copied().unwrap_or(0))
                        .expect("non-empty body");
                    ix.by_rel.entry(rarest).or_default().push(i);
                }
            }
        }
        ix
    }

    /// The rules that may apply to `g`, ascending.
    pub fn candidates(&self, rules: &RuleSet, g: &Graph<'_>) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for r in g.present_relations() {
            if let Some(v) = self.by_rel.get(&r) {
                out.extend_from_slice(v);
            }
            if !self.const_rels.get(r as usize).copied().unwrap_or(false) {
                continue;
            }
            let idx = g.rel(r);
            for s in idx.subjects().filter(|&s| s < self.n_constants) {
                if let Some(v) = self.by_subject.get(&(r, s)) {
                    out.extend_from_slice(v);
                }
            }
            for o in idx.objects().filter(|&o| o < self.n_constants) {
                if let Some(v) = self.by_object.get(&(r, o)) {
                    out.extend_from_slice(v);
                }
            }
        }
        out.retain(|&i| may_apply(&rules.rules[i as usize], g));
        out.sort_unstable();
        out
    }
}

/// Every body relation present, every body constant present in its place.
fn may_apply(rule: &Rule, g: &Graph<'_>) -> bool {
    rule.body.iter().all(|a| {
        let idx = g.rel(a.rel);
        !idx.is_empty()
            && match (a.s, a.o) {
                (Term::Const(c), _) => !idx.with_subject(c).is_empty(),
                (_, Term::Const(c)) => !idx.with_object(c).is_empty(),
                _ => true,
            }
    })
}
