//! Which rules can apply to a graph, found without looking at the others.
//!
//! A rule can only fire when the graph has every body relation, and for every body atom with a
//! constant, a triple of that relation with that constant in that place. Each rule is filed
//! under one such requirement (its *anchor*): a `(relation, constant)` pair when the body has
//! a constant (most selective), else its body relation used by the fewest rules; a zero rule
//! under its head relation. A graph then visits only the anchors it holds.

use std::io;

use rustc_hash::FxHashMap;

use crate::intern::Id;
use crate::rules::store::{Anchor, RuleStore, Slot, anchor};
use crate::rules::{Atom, RelId, Rule, RuleSet, Term};
use crate::triples::Graph;

#[derive(Debug, Default)]
/// Which rules can apply to a graph: the rules filed by [`Anchor`](crate::rules::store::Anchor),
/// each found by a lookup of what the graph holds.
pub struct RuleIndex {
    by_anchor: FxHashMap<Anchor, Vec<u32>>,
    /// Relations that anchor some rule by a constant (so their entities are worth visiting).
    const_rels: Vec<bool>,
    /// Entities below this id are rule constants.
    n_constants: Id,
}

/// The anchors `g` holds: each present relation, and for the relations `by_constant` accepts,
/// each (relation, subject) and (relation, object) whose entity is a rule constant (id below
/// `n_constants`).
fn graph_anchors(
    g: &Graph<'_>,
    by_constant: impl Fn(RelId) -> bool,
    n_constants: Id,
    mut f: impl FnMut(Anchor),
) {
    for r in g.present_relations() {
        f(Anchor::Rel(r));
        if !by_constant(r) {
            continue;
        }
        let idx = g.rel(r);
        for s in idx.subjects().filter(|&s| s < n_constants) {
            f(Anchor::Subject(r, s));
        }
        for o in idx.objects().filter(|&o| o < n_constants) {
            f(Anchor::Object(r, o));
        }
    }
}

/// The rules of `store` that may apply to `g` (the ones [`RuleIndex::candidates`] would let
/// through for the same rules in memory), ascending by index.
pub fn store_candidates(store: &RuleStore, g: &Graph<'_>) -> io::Result<Vec<Slot>> {
    let mut anchors = Vec::new();
    graph_anchors(
        g,
        |r| store.anchors_constants_of(r),
        store.n_constants(),
        |a| anchors.push(a),
    );
    store.scan(anchors, |body| may_apply_body(body, g))
}

impl RuleIndex {
    /// The index of every rule of `rules`.
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
            let anchor = anchor(r.head.rel, &r.body, |rel| {
                uses.get(&rel).copied().unwrap_or(0)
            });
            if let Anchor::Subject(rel, _) | Anchor::Object(rel, _) = anchor {
                ix.const_rels[rel as usize] = true;
            }
            ix.by_anchor.entry(anchor).or_default().push(i as u32);
        }
        ix
    }

    /// The rules that may apply to `g`, ascending.
    pub fn candidates(&self, rules: &RuleSet, g: &Graph<'_>) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        graph_anchors(
            g,
            |r| self.const_rels.get(r as usize).copied().unwrap_or(false),
            self.n_constants,
            |a| {
                if let Some(v) = self.by_anchor.get(&a) {
                    out.extend_from_slice(v);
                }
            },
        );
        out.retain(|&i| may_apply(&rules.rules[i as usize], g));
        out.sort_unstable();
        out
    }
}

/// Every body relation present, every body constant present in its place.
pub(crate) fn may_apply(rule: &Rule, g: &Graph<'_>) -> bool {
    may_apply_body(&rule.body, g)
}

fn may_apply_body(body: &[Atom], g: &Graph<'_>) -> bool {
    body.iter().all(|a| {
        let idx = g.rel(a.rel);
        !idx.is_empty()
            && match (a.s, a.o) {
                (Term::Const(c), _) => !idx.with_subject(c).is_empty(),
                (_, Term::Const(c)) => !idx.with_object(c).is_empty(),
                _ => true,
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::store::tests::{RULES, store};
    use crate::triples::{GraphBuilder, TripleSink};

    /// The store lets through exactly the rules the in-memory index lets through.
    #[test]
    fn store_candidates_equal_the_in_memory_index() {
        let rs = RuleSet::from_text("r", RULES).unwrap();
        let (_tmp, s) = store(&rs);
        let ix = RuleIndex::new(&rs);
        let graphs: [&[(&str, &str, &str)]; 4] = [
            &[("x", "b", "y")],
            &[("x", "b", "y"), ("y", "d", "e"), ("y", "m", "z")],
            &[("x", "g", "q"), ("w", "m", "e")],
            &[],
        ];
        for triples in graphs {
            let mut b = GraphBuilder::new(&rs.symbols);
            for (x, r, y) in triples {
                b.triple(x, r, y);
            }
            let g = b.finish();
            let slots = store_candidates(&s, &g).unwrap();
            let got: Vec<u32> = slots.iter().map(|c| c.rule).collect();
            assert_eq!(got, ix.candidates(&rs, &g), "{triples:?}");
            assert_eq!(s.read(&slots).unwrap().len(), got.len());
        }
    }
}
