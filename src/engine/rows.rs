//! Rules checked for the rows of one graph (`--one-graph`): a file's records are read into one
//! graph, and each record (row) is checked for the predictions about its own nodes only, so
//! rules that go through other rows fire while every finding stays with the row it is about.
//!
//! For a row owning the subjects `S`, a rule's outcome is its outcome on the whole graph
//! restricted to predictions `(s, o)` with `s` in `S` ([`super::check_rule_for`]); summed over
//! rows that own every subject, it is the whole graph's outcome.
//!
//! Which rules can fire for a row: a rule whose head subject is the variable `X` needs one body
//! atom on `X` to hold at the row's subject, so it is filed under that atom (preferring one with
//! a constant: `b(X, d)` under `X -b-> d`, `b(X, A)` under `X -b->`, `b(A, X)` under
//! `-b-> X`); a zero rule `h(X, c) <=` under `X -h->`; a rule with a constant head subject under
//! that constant. A row visits the keys its subjects' triples hold. A rule whose atom on `X`
//! joins a second atom through a variable (`h(X, c) <= b(X, A), r(d, A)`) is filed, when the
//! second atom allows few values of that variable in the graph, under each: `X -b-> a` for
//! every `a` that `d` holds under `r` (`resolved_keys`); otherwise every row giving `b` would
//! visit it (AnyBURL writes tens of thousands of such rules through one other row each).

use std::time::Instant;

use rustc_hash::FxHashMap;

use super::{CheckOptions, CheckResult, RuleOutcome, Scratch, UNBOUND, check_rule_for};
use crate::rules::{EntId, RelId, Rule, RuleSet, Side, Term};
use crate::triples::Graph;

/// What a rule needs of a row's subject `X` to fire (`UNBOUND`: any value).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    /// A triple `X -rel-> value`.
    Out(RelId, EntId),
    /// A triple `value -rel-> X`.
    In(RelId, EntId),
    /// `X` is this entity (a rule with a constant head subject).
    Is(EntId),
}

/// The key a rule is filed under; `None` when it can fire for any subject.
fn key_of(rule: &Rule) -> Option<Key> {
    let x = match rule.head.s {
        Term::Const(c) => return Some(Key::Is(c)),
        Term::Var(x) => Term::Var(x),
    };
    if let Some(side) = rule.zero_side {
        return match side {
            Side::Subject => Some(Key::Out(rule.head.rel, UNBOUND)),
            Side::Object => Some(Key::In(rule.head.rel, UNBOUND)),
        };
    }
    let with_constant = rule.body.iter().find_map(|a| match (a.s, a.o) {
        (s, Term::Const(d)) if s == x => Some(Key::Out(a.rel, d)),
        (Term::Const(d), o) if o == x => Some(Key::In(a.rel, d)),
        _ => None,
    });
    with_constant.or_else(|| {
        rule.body.iter().find_map(|a| {
            if a.s == x {
                Some(Key::Out(a.rel, UNBOUND))
            } else if a.o == x {
                Some(Key::In(a.rel, UNBOUND))
            } else {
                None
            }
        })
    })
}

/// The most values a rule's join variable may take in the graph for the rule to be filed under
/// each of them ([`resolved_keys`]).
const MAX_RESOLVED: usize = 64;

/// The keys of a two-atom rule once its second atom is looked up in `g`.
///
/// `h(X, c) <= b(X, A), r(d, A)` can fire only for a subject whose `b` is an object `d` holds
/// under `r`: it is filed under `X -b-> a` for each such `a` (`b(A, X)`: under `a -b-> X`; `r(A,
/// d)`, `r(A, B)`, `r(B, A)`: the subjects or objects of `r` that qualify). Object identity
/// only removes bindings, so the keys are never too few; none at all when the second atom
/// matches nothing (the rule cannot fire). `None` for any other shape, or more than
/// [`MAX_RESOLVED`] values: then [`key_of`].
fn resolved_keys(rule: &Rule, g: &Graph<'_>) -> Option<Vec<Key>> {
    let x = match rule.head.s {
        Term::Var(x) => Term::Var(x),
        Term::Const(_) => return None,
    };
    if rule.zero_side.is_some() || rule.body.len() != 2 {
        return None;
    }
    for (i, a) in rule.body.iter().enumerate() {
        let other = &rule.body[1 - i];
        let (outgoing, join) = if a.s == x {
            (true, a.o)
        } else if a.o == x {
            (false, a.s)
        } else {
            continue;
        };
        // A constant on `X`'s atom files the rule precisely already.
        if !matches!(join, Term::Var(_)) || join == x || other.s == x || other.o == x {
            continue;
        }
        let idx = g.rel(other.rel);
        let mut values: Vec<EntId> = match (other.s == join, other.o == join) {
            (true, true) => return None,
            (true, false) => match other.o {
                Term::Const(d) => idx.with_object(d).iter().map(|p| p.1).collect(),
                Term::Var(_) if idx.distinct_subjects() <= MAX_RESOLVED => idx.subjects().collect(),
                Term::Var(_) => return None,
            },
            (false, true) => match other.s {
                Term::Const(d) => idx.with_subject(d).iter().map(|p| p.1).collect(),
                Term::Var(_) if idx.distinct_objects() <= MAX_RESOLVED => idx.objects().collect(),
                Term::Var(_) => return None,
            },
            (false, false) => continue,
        };
        values.sort_unstable();
        values.dedup();
        if values.len() > MAX_RESOLVED {
            return None;
        }
        let key = |v| {
            if outgoing {
                Key::Out(a.rel, v)
            } else {
                Key::In(a.rel, v)
            }
        };
        return Some(values.into_iter().map(key).collect());
    }
    None
}

/// Candidate rules (indices into a [`RuleSet`]) filed by what they need of a row's subject.
pub struct RowIndex<'r> {
    rules: &'r RuleSet,
    by_key: FxHashMap<Key, Vec<u32>>,
    /// Rules that may fire for any subject.
    always: Vec<u32>,
}

impl<'r> RowIndex<'r> {
    /// Files `candidates` (ascending indices into `rules`: those that may apply to `g`).
    pub fn new(rules: &'r RuleSet, candidates: &[u32], g: &Graph<'_>) -> Self {
        let mut by_key: FxHashMap<Key, Vec<u32>> = FxHashMap::default();
        let mut always = Vec::new();
        for &ri in candidates {
            let rule = &rules.rules[ri as usize];
            if let Some(keys) = resolved_keys(rule, g) {
                for k in keys {
                    by_key.entry(k).or_default().push(ri);
                }
                continue;
            }
            match key_of(rule) {
                Some(k) => by_key.entry(k).or_default().push(ri),
                None => always.push(ri),
            }
        }
        Self {
            rules,
            by_key,
            always,
        }
    }

    /// The rules that may fire for `subjects`, ascending.
    pub fn candidates(&self, g: &Graph<'_>, subjects: &[EntId]) -> Vec<u32> {
        let mut out = self.always.clone();
        let mut visit = |k: Key| {
            if let Some(rules) = self.by_key.get(&k) {
                out.extend_from_slice(rules);
            }
        };
        for &s in subjects {
            visit(Key::Is(s));
            for r in g.present_relations() {
                let idx = g.rel(r);
                let outs = idx.with_subject(s);
                if !outs.is_empty() {
                    visit(Key::Out(r, UNBOUND));
                    outs.iter().for_each(|p| visit(Key::Out(r, p.1)));
                }
                let ins = idx.with_object(s);
                if !ins.is_empty() {
                    visit(Key::In(r, UNBOUND));
                    ins.iter().for_each(|p| visit(Key::In(r, p.1)));
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Checks the rules that may fire for `subjects` (ascending, distinct), for them only, on
    /// the calling thread.
    pub fn check(
        &self,
        g: &Graph<'_>,
        subjects: &[EntId],
        opts: CheckOptions,
        scratch: &mut Scratch,
    ) -> CheckResult {
        let all: Vec<Option<RuleOutcome>> = self
            .candidates(g, subjects)
            .into_iter()
            .map(|ri| {
                if opts.deadline.is_some_and(|d| Instant::now() >= d) {
                    return None;
                }
                let rule = &self.rules.rules[ri as usize];
                Some(check_rule_for(ri, rule, g, opts, scratch, subjects))
            })
            .collect();
        CheckResult::from_outcomes(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::{Engine, check_rule};
    use crate::triples::{GraphBuilder, TripleSink};

    const RULES: &str = "\
10\t9\t0.9\tcity(X,Y) <= zip(X,A), zip(B,A), city(B,Y)
10\t9\t0.9\tcity(X,paris) <= zip(X,75001)
10\t9\t0.9\tcity(X,paris) <= 
10\t9\t0.9\tzip(X,Y) <= city(X,A), city(B,A), zip(B,Y)
10\t9\t0.9\tzip(75001,Y) <= zip(Y,A)
10\t9\t0.9\tcity(X,Y) <= near(Y,X)
10\t9\t0.9\tcity(X,paris) <= zip(X,A), zip(r1,A)
10\t9\t0.9\tcity(X,paris) <= zip(X,A), code(A,B)
";

    fn graph<'s>(rules: &'s RuleSet, triples: &[(&str, &str, &str)]) -> Graph<'s> {
        let mut b = GraphBuilder::new(&rules.symbols);
        for (s, r, o) in triples {
            b.triple(s, r, o);
        }
        b.finish()
    }

    /// A rule's predicted and correct counts and its violations, summed over rows.
    type Sum = (u64, u64, Vec<(EntId, EntId)>);

    /// A rule joining the row's atom to another row's value is visited only by rows holding
    /// that value; one whose second atom matches nothing by none.
    #[test]
    fn a_join_through_another_row_is_filed_under_its_values() {
        let rs = RuleSet::from_text("r", RULES).unwrap();
        let g = graph(
            &rs,
            &[
                ("r1", "zip", "75001"),
                ("r2", "zip", "75001"),
                ("r3", "zip", "13001"),
            ],
        );
        let index = RowIndex::new(&rs, &Engine::new(&rs).candidates(&g), &g);
        let id = |n: &str| g.entity_id(n).unwrap();
        let through_r1 = 6;
        let through_code = 7;
        assert!(index.candidates(&g, &[id("r2")]).contains(&through_r1));
        assert!(!index.candidates(&g, &[id("r3")]).contains(&through_r1));
        for row in ["r1", "r2", "r3"] {
            assert!(!index.candidates(&g, &[id(row)]).contains(&through_code));
        }
    }

    /// Summed over a partition of every entity, the rows' outcomes are the whole graph's.
    #[test]
    fn rows_add_up_to_the_whole_graph() {
        let rs = RuleSet::from_text("r", RULES).unwrap();
        let g = graph(
            &rs,
            &[
                ("r1", "zip", "75001"),
                ("r1", "city", "paris"),
                ("r2", "zip", "75001"),
                ("r2", "city", "pariss"),
                ("r3", "zip", "13001"),
                ("r3", "city", "marseille"),
                ("r4", "city", "marseille"),
                ("lyon", "near", "r4"),
            ],
        );
        let all: Vec<EntId> = (0..g.entity_bound() as EntId).collect();
        let engine = Engine::new(&rs);
        let whole = engine.check_sequential(&g, CheckOptions::default());
        let candidates = engine.candidates(&g);
        let index = RowIndex::new(&rs, &candidates, &g);
        for parts in [1usize, 2, 3, all.len()] {
            let mut sums: FxHashMap<u32, Sum> = Default::default();
            for part in all.chunks(all.len().div_ceil(parts)) {
                let res = index.check(&g, part, CheckOptions::default(), &mut Scratch::default());
                for o in res.outcomes {
                    let e = sums.entry(o.rule).or_default();
                    e.0 += o.predicted;
                    e.1 += o.correct;
                    e.2.extend(o.violations.iter().map(|v| (v.s, v.o)));
                }
            }
            for o in &whole.outcomes {
                let mut want: Vec<_> = o.violations.iter().map(|v| (v.s, v.o)).collect();
                want.sort_unstable();
                let got = sums.remove(&o.rule).unwrap_or_default();
                let mut vio = got.2;
                vio.sort_unstable();
                assert_eq!(
                    (got.0, got.1, vio),
                    (o.predicted, o.correct, want),
                    "rule {}",
                    o.rule
                );
            }
            assert!(sums.values().all(|v| v.0 == 0), "{parts}: {sums:?}");
        }
        // One rule alone, for one row, equals the whole graph's outcome cut to that row.
        let r1 = g.entity_id("r2").unwrap();
        let one = check_rule_for(
            0,
            &rs.rules[0],
            &g,
            CheckOptions::default(),
            &mut Scratch::default(),
            &[r1],
        );
        let full = check_rule(
            0,
            &rs.rules[0],
            &g,
            CheckOptions::default(),
            &mut Scratch::default(),
        );
        let cut: Vec<_> = full
            .violations
            .iter()
            .filter(|v| v.s == r1)
            .map(|v| v.o)
            .collect();
        assert_eq!(one.violations.iter().map(|v| v.o).collect::<Vec<_>>(), cut);
        assert_eq!(
            one.violation_count(),
            1,
            "r2 is told paris by r1 through their zip"
        );
    }
}
