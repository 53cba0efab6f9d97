//! Culprits across nodes: one wrong value on one node makes rules fail on others (a product
//! sold under an offering its contract's payment context does not allow: the contract's
//! `paymentContext` and the account's name then conflict with what the offering predicts).
//! The conflicts are found where they show; the value that explains them is not a finding of
//! its own node (no rule predicts another value for it strongly). This step blames it.
//!
//! ```text
//! culprit(n, r, c) <= for the strongest SOURCES conflicts (one per node), the witness of each
//!                     one's strongest rule binds a body atom r(X, c) (a constant object) to
//!                     the triple (n, r, c) with n not the conflict's own node,
//!                     and conflicts on at least two distinct nodes go through (n, r, c).
//! score(culprit)   =  the second strongest of those nodes' conflict scores: two independent
//!                     nodes must point at it, the weaker sets how sure the blame is.
//! ```
//!
//! The conflicts it explains keep their own places (absorbing them measured worse: the
//! conflict is as often the wrong value as the culprit). Measured in BENCHMARKS.md.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::FetchError;
use crate::engine::witness_bounded;
use crate::rules::{EntId, RelId, Rule, Term};
use crate::triples::Graph;

/// A triple `(subject, relation, object)`.
pub(super) type Key = (EntId, RelId, EntId);

/// How many of the strongest conflicts (one per node) are searched for a common culprit.
pub const SOURCES: usize = 20;

/// A conflict that may have a culprit elsewhere: its missing triple, node, score and
/// strongest rules (all those tied with the strongest, so that the order of the rules in their
/// file does not matter).
pub(super) struct Source {
    pub key: Key,
    pub focus: EntId,
    pub score: f64,
    pub rules: Vec<u32>,
}

/// A present value that conflicts on other nodes follow from.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Culprit {
    /// The triple to fix.
    pub triple: Key,
    /// Its node in the record (a derived triple's origin).
    pub focus: EntId,
    pub score: f64,
    /// The conflicts it explains (missing triple, score), strongest first.
    pub explains: Vec<(Key, f64)>,
}

/// The culprits of `sources` (the strongest conflicts, strongest first), in a deterministic
/// order (by score, then by the names of their triples).
pub(super) fn find(
    g: &Graph<'_>,
    sources: &[Source],
    max_steps: u64,
    fetch: &mut impl FnMut(u32) -> Result<Arc<Rule>, FetchError>,
) -> Result<Vec<Culprit>, FetchError> {
    // Culprit triple -> the conflicts going through it (index in `sources`).
    let mut through: FxHashMap<Key, Vec<usize>> = FxHashMap::default();
    for (i, c) in sources.iter().enumerate() {
        // Every rule tied with the strongest: the tie is not broken by the rules' order in
        // their file.
        for &r in &c.rules {
            let rule = fetch(r)?;
            let Some(binding) = witness_bounded(&rule, g, c.key.0, c.key.2, max_steps) else {
                continue;
            };
            for t in constant_atoms(&rule, &binding) {
                if t.0 != c.key.0 && t.0 != c.focus {
                    let list = through.entry(t).or_default();
                    if !list.contains(&i) {
                        list.push(i);
                    }
                }
            }
        }
    }
    let mut culprits: Vec<Culprit> = through
        .into_iter()
        .filter_map(|(triple, list)| culprit(g, sources, triple, &list))
        .collect();
    let name = |k: Key| (g.entity_name(k.0), g.relation_name(k.1), g.entity_name(k.2));
    culprits.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| name(a.triple).cmp(&name(b.triple)))
    });
    Ok(culprits)
}

/// The culprit `triple` of the conflicts `list` when they lie on two nodes or more.
fn culprit(g: &Graph<'_>, sources: &[Source], triple: Key, list: &[usize]) -> Option<Culprit> {
    // The strongest conflict of each node.
    let mut per_node: FxHashMap<EntId, f64> = FxHashMap::default();
    for &i in list {
        let best = per_node.entry(sources[i].focus).or_insert(0.0);
        *best = best.max(sources[i].score);
    }
    if per_node.len() < 2 {
        return None;
    }
    let mut scores: Vec<f64> = per_node.into_values().collect();
    scores.sort_by(|a, b| b.total_cmp(a));
    // `sources` is strongest first, so `list` is too.
    let explains = list
        .iter()
        .map(|&i| (sources[i].key, sources[i].score))
        .collect();
    Some(Culprit {
        triple,
        focus: g
            .origin(triple.0, triple.1, Some(triple.2))
            .unwrap_or(triple.0),
        score: scores[1],
        explains,
    })
}

/// The body triples of a grounding whose object is a constant of the rule and whose subject
/// is bound: the values a rule's conclusion rests on.
fn constant_atoms(rule: &Rule, binding: &[EntId]) -> Vec<Key> {
    rule.body
        .iter()
        .filter_map(|a| {
            let (Term::Var(v), Term::Const(c)) = (a.s, a.o) else {
                return None;
            };
            let at = rule.vars.iter().position(|&u| u == v)?;
            Some((*binding.get(at)?, a.rel, c))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use crate::check::report_of;
    use crate::report::{FindingKind, RecordReport};
    use crate::rules::RuleSet;

    /// Product P1 is sold under offering PJ; its contract is Control and its account is named
    /// for Control. Rules from the offering predict Postpaid for both.
    fn report(rules: &str) -> RecordReport {
        let rules = RuleSet::from_text("c.rules", rules).unwrap();
        report_of(
            &rules,
            &[
                ("K1", "product", "P1"),
                ("K1", "paymentContext", "Control"),
                ("A1", "holds", "P1"),
                ("A1", "name", "Control BA"),
                ("P1", "offering", "PJ"),
                ("P1", "status", "Active"),
            ],
        )
    }

    const CONTEXT: &str =
        "10\t9\t0.9\tpaymentContext(X,Postpaid) <= product(X,A), offering(A,PJ)\n";
    const NAME: &str = "10\t8\t0.85\tname(X,Postpaid BA) <= holds(X,A), offering(A,PJ)\n";

    /// Conflicts on two nodes whose rules go through one value of a third node blame that
    /// value: a culprit finding on its node, scored by the weaker node, naming the conflicts it
    /// explains (which keep their own places).
    #[test]
    fn conflicts_on_two_nodes_through_one_value_blame_it() {
        let r = report(&format!("{CONTEXT}{NAME}"));
        let kinds: Vec<_> = r
            .findings
            .iter()
            .map(|f| (f.kind, f.focus.as_str()))
            .collect();
        assert_eq!(
            kinds,
            [
                (FindingKind::Conflict, "K1"),
                (FindingKind::Culprit, "P1"),
                (FindingKind::Conflict, "A1")
            ],
            "{:#?}",
            r.findings
        );
        let c = &r.findings[1];
        assert_eq!(c.culprit.as_ref().unwrap().to_string(), "offering(P1,PJ)");
        let explains: Vec<String> = c.explains.iter().map(ToString::to_string).collect();
        assert_eq!(
            explains,
            ["paymentContext(K1,Postpaid)", "name(A1,Postpaid BA)"]
        );
        assert!((c.score - 0.85).abs() < 1e-9, "{}", c.score);
        // It shows the strongest conflict it explains, with that conflict's rules.
        assert_eq!(c.missing.to_string(), "paymentContext(K1,Postpaid)");
        assert!(
            c.message
                .starts_with("P1: `offering` is PJ, probably wrong: 2 conflicts")
        );
        assert_eq!(r.finding_counts.total(), 3);
    }

    /// One node's conflict is not enough: the value it goes through may be right.
    #[test]
    fn one_node_blames_nothing_else() {
        let r = report(CONTEXT);
        assert_eq!(r.findings.len(), 1);
        assert_eq!(r.findings[0].kind, FindingKind::Conflict);
        let r = report(&format!(
            "{CONTEXT}10\t9\t0.8\tpaymentContext(X,Prepaid) <= product(X,A), offering(A,PJ)\n"
        ));
        assert!(r.findings.iter().all(|f| f.kind != FindingKind::Culprit));
    }
}
