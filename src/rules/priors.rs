//! A value's prior: how often a relation holds that value, whether or not the record at hand
//! gives the relation at all.
//!
//! AnyBURL's body-less rule `h(X,c) <= ` says what share of the subjects of `h` hold `c` (and
//! `h(c,Y) <= ` the share of the objects of `h` that `c` holds). Checked against a record, it
//! ranges over the subjects that give `h`, so it never fires for a slot the record leaves
//! empty: the predictions for an empty slot would come without the prior they must beat.
//! [`Priors`] keeps every body-less rule's confidence by the triple it predicts, so a finding's
//! prior is known wherever its rules are read from.

use rustc_hash::FxHashMap;

use super::{EntId, RelId, Rule, Side, Term};

/// The confidence of each body-less rule, by the relation, the constant and the side its
/// variable ranges over (the highest when several rules say it).
#[derive(Debug, Default, Clone)]
pub struct Priors {
    by: FxHashMap<(RelId, EntId, Side), f64>,
}

impl Priors {
    /// The priors of `rules`.
    pub fn of<'r>(rules: impl IntoIterator<Item = &'r Rule>) -> Self {
        let mut p = Self::default();
        for r in rules {
            p.add(r);
        }
        p
    }

    /// Notes `rule` if it is body-less (every other rule is ignored).
    pub fn add(&mut self, rule: &Rule) {
        let Some(side) = rule.zero_side else { return };
        // `h(X,c)`: the constant is the object; `h(c,Y)`: the subject. `me_myself_i` has no
        // constant of its own (the atom is reflexive) and gives no prior.
        let constant = match side {
            Side::Subject => rule.head.o,
            Side::Object => rule.head.s,
        };
        let Term::Const(c) = constant else { return };
        let at = self.by.entry((rule.head.rel, c, side)).or_insert(0.0);
        *at = at.max(rule.confidence);
    }

    /// The prior of the triple `(s, rel, o)`: the confidence of the body-less rule predicting
    /// it (`rel(X,o)` or `rel(s,Y)`, the higher), 0 when there is none.
    pub fn of_triple(&self, (s, rel, o): (EntId, RelId, EntId)) -> f64 {
        let subject_side = self.by.get(&(rel, o, Side::Subject)).copied();
        let object_side = self.by.get(&(rel, s, Side::Object)).copied();
        subject_side.unwrap_or(0.0).max(object_side.unwrap_or(0.0))
    }

    /// Every prior as (relation, constant, whether the variable is the object, confidence),
    /// in a fixed order (for a compiled rule set's header).
    pub fn entries(&self) -> Vec<(RelId, EntId, bool, f64)> {
        let mut v: Vec<_> = self
            .by
            .iter()
            .map(|(&(rel, c, side), &conf)| (rel, c, side == Side::Object, conf))
            .collect();
        v.sort_by_key(|&(rel, c, object, _)| (rel, c, object));
        v
    }

    /// The priors [`Self::entries`] listed.
    pub fn from_entries(entries: &[(RelId, EntId, bool, f64)]) -> Self {
        let side = |object: bool| if object { Side::Object } else { Side::Subject };
        Self {
            by: entries
                .iter()
                .map(|&(rel, c, object, conf)| ((rel, c, side(object)), conf))
                .collect(),
        }
    }

    /// How many body-less rules with a constant were noted.
    pub fn len(&self) -> usize {
        self.by.len()
    }

    /// Whether no body-less rule was noted.
    pub fn is_empty(&self) -> bool {
        self.by.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSet;

    #[test]
    fn priors_are_the_body_less_rules_by_the_triple_they_predict() {
        let text = "10\t7\t0.7\tlang(X,eng) <= \n\
                    10\t9\t0.9\tlang(X,eng) <= \n\
                    10\t2\t0.2\tcites(paper1,Y) <= \n\
                    10\t6\t0.6\tlang(X,fre) <= title(X,A)\n";
        let rs = RuleSet::from_text("r.txt", text).unwrap();
        let p = Priors::of(&rs.rules);
        let ent = |n: &str| rs.symbols.entities.get(n).unwrap();
        let rel = |n: &str| rs.symbols.relations.get(n).unwrap();
        // The highest of two rules for the same value.
        assert_eq!(p.of_triple((ent("paper1"), rel("lang"), ent("eng"))), 0.9);
        // `cites(paper1,Y)`: paper1 cites a share of the objects.
        assert_eq!(p.of_triple((ent("paper1"), rel("cites"), ent("eng"))), 0.2);
        // A rule with a body is no prior.
        assert_eq!(p.of_triple((ent("paper1"), rel("lang"), ent("fre"))), 0.0);
        assert_eq!(p.len(), 2);
        let back = Priors::from_entries(&p.entries());
        assert_eq!(back.entries(), p.entries());
    }
}
