//! Rule statistics and rule health: per-rule counts summed over records, written as
//! `--rule-stats` / `rule-stats.txt` (the rules with counts recomputed on the data) and as
//! `rule-health.tsv` and the reports' rule health (which rules held, which drifted).

use std::io::{self, Write};

use rustc_hash::FxHashMap;

use crate::check::Tally;
use crate::report::{RuleDrift, RuleHealth};
use crate::rules::{RuleCatalog, RuleName, RulesError};

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
        self.pessimistic(0)
    }

    /// `correct / (predicted + unseen)`: the confidence AnyBURL applies rules with (its
    /// `UNSEEN_NEGATIVE_EXAMPLES`, 5 by default): a rule right 20 times of 20 is not certain.
    pub fn pessimistic(&self, unseen: u64) -> f64 {
        if self.predicted == 0 {
            0.0
        } else {
            self.correct as f64 / (self.predicted + unseen) as f64
        }
    }
}

/// Why rule statistics could not be written: the rules could not be listed again, or the
/// output could not be written.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error(transparent)]
    Write(#[from] io::Error),
}

/// Per-rule counts summed over records (`--rule-stats`, rule health). Sparse: only the rules
/// that applied take memory, so a run over a million rules does not hold a million tallies.
#[derive(Debug, Clone, PartialEq, Eq)]
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

    /// The counts of rule `rule`, when it applied.
    fn applied_tally(&self, rule: usize) -> Option<&RuleTally> {
        u32::try_from(rule).ok().and_then(|r| self.counts.get(&r))
    }

    /// The counts of rule `rule` (zero when it never applied).
    pub fn get(&self, rule: usize) -> RuleTally {
        self.applied_tally(rule).copied().unwrap_or_default()
    }

    /// The rules that applied, by index, with their counts (in no particular order).
    fn each_applied(&self) -> impl Iterator<Item = (usize, &RuleTally)> + '_ {
        self.counts.iter().map(|(&i, t)| (i as usize, t))
    }

    /// Rules broken on at least one record.
    pub fn broken(&self) -> usize {
        self.each_applied().filter(|(_, t)| t.broken > 0).count()
    }

    /// `(rule index, predicted, correct)` of the rules that applied, by index.
    pub fn rule_counts(&self) -> Vec<(usize, u64, u64)> {
        let mut v: Vec<_> = self
            .each_applied()
            .map(|(i, t)| (i, t.predicted, t.correct))
            .collect();
        v.sort_unstable();
        v
    }

    /// Writes an AnyBURL rules file with the recomputed counts, one line per rule in order.
    pub fn write(&self, rules: &dyn RuleCatalog, out: &mut impl Write) -> Result<(), StatsError> {
        self.pass(rules, Some(out), false, 0).map(|_| ())
    }

    /// [`Self::write`] with each confidence `correct / (predicted + unseen)`.
    pub fn write_pessimistic(
        &self,
        rules: &dyn RuleCatalog,
        out: &mut impl Write,
        unseen: u64,
    ) -> Result<(), StatsError> {
        self.pass(rules, Some(out), false, unseen).map(|_| ())
    }

    /// [`Self::write`] and [`Self::health_rows`] in one pass over `rules` (which may be read
    /// from disk).
    pub fn write_with_health<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
        out: &mut impl Write,
    ) -> Result<HealthRows<'s>, StatsError> {
        self.pass(rules, Some(out), true, 0)
    }

    /// The rules that applied, with how far their observed confidence fell below the mined
    /// one, largest drop first, ties by rule order. One pass over `rules`.
    pub fn health_rows<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
    ) -> Result<HealthRows<'s>, StatsError> {
        self.pass(rules, None::<&mut io::Sink>, true, 0)
    }

    fn pass<'s>(
        &'s self,
        rules: &dyn RuleCatalog,
        mut out: Option<&mut impl Write>,
        want_rows: bool,
        unseen: u64,
    ) -> Result<HealthRows<'s>, StatsError> {
        // The rules that applied, by index: walked beside the rules (which come in order), so
        // the pass does no lookup per rule.
        let mut applied: Vec<(usize, &RuleTally)> = self.each_applied().collect();
        applied.sort_unstable_by_key(|&(i, _)| i);
        let mut next = applied.iter().peekable();
        let mut rows = Vec::with_capacity(if want_rows { applied.len() } else { 0 });
        // Where rules cannot be looked up again by index, rows carry their names.
        let named = !rules.random_access();
        if out.is_none() && want_rows && !named {
            // Only the rules that applied are wanted: looked up by index (rules filed on disk
            // are then not read whole).
            for &(i, tally) in &applied {
                if let Some(confidence) = rules.confidence(i)? {
                    rows.push(HealthRow {
                        drop: confidence - tally.observed(),
                        index: i as u32,
                        named: None,
                    });
                }
            }
            rows.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.index.cmp(&b.index)));
            return Ok(HealthRows { rows, stats: self });
        }
        let mut res = Ok(());
        rules.each_rule(&mut |i, set, rule| {
            let applied = next.next_if(|&&(k, _)| k == i).map(|&(_, t)| t);
            if let (Some(out), Ok(())) = (out.as_mut(), &res) {
                let t = applied.copied().unwrap_or_default();
                let conf = t.pessimistic(unseen);
                res = writeln!(
                    out,
                    "{}\t{}\t{conf:?}\t{}",
                    t.predicted, t.correct, rule.text
                );
            }
            if !want_rows {
                return;
            }
            if let Some(tally) = applied {
                rows.push(HealthRow {
                    drop: rule.confidence - tally.observed(),
                    index: i as u32,
                    named: named.then(|| Box::new(RuleName::of(set, rule))),
                });
            }
        })?;
        res?;
        rows.sort_by(|a, b| b.drop.total_cmp(&a.drop).then(a.index.cmp(&b.index)));
        Ok(HealthRows { rows, stats: self })
    }

    /// Which rules applied, and the `top` whose observed confidence dropped most below the
    /// mined one (ties by rule order).
    pub fn health(&self, rules: &dyn RuleCatalog, top: usize) -> Result<RuleHealth, StatsError> {
        self.health_rows(rules)?.summary(rules, top)
    }
}

/// One rule that applied, for `rule-health.tsv` and the rule health of a summary: 24 bytes,
/// the rule's id and text looked up when written (or kept, when the rules cannot be looked
/// up by index).
#[derive(Debug, Clone)]
struct HealthRow {
    drop: f64,
    index: u32,
    named: Option<Box<RuleName>>,
}

/// The rules that applied, largest confidence drop first (see [`RuleStats::health_rows`]).
#[derive(Debug, Clone)]
pub struct HealthRows<'s> {
    rows: Vec<HealthRow>,
    stats: &'s RuleStats,
}

impl HealthRows<'_> {
    fn name(&self, rules: &dyn RuleCatalog, r: &HealthRow) -> Result<RuleName, StatsError> {
        match &r.named {
            Some(n) => Ok((**n).clone()),
            None => rules.describe(r.index as usize)?.ok_or_else(|| {
                StatsError::Write(io::Error::other(format!(
                    "rule {} cannot be read back",
                    r.index
                )))
            }),
        }
    }

    /// Every rule that applied, as TSV: id, records applied / held / broken, predicted,
    /// correct, mined and observed confidence, the drop, the rule; largest drop first (ties
    /// by rule order). Rules that never applied are counted in the last line.
    pub fn write(&self, rules: &dyn RuleCatalog, out: &mut impl Write) -> Result<(), StatsError> {
        writeln!(
            out,
            "rule_id\tapplied\theld\tbroken\tpredicted\tcorrect\tmined_confidence\tobserved_confidence\tdrop\trule"
        )?;
        for r in &self.rows {
            let t = self.stats.get(r.index as usize);
            let n = self.name(rules, r)?;
            writeln!(
                out,
                "{}\t{}\t{}\t{}\t{}\t{}\t{:?}\t{:?}\t{:.6}\t{}",
                n.rule_id,
                t.applied,
                t.held,
                t.broken,
                t.predicted,
                t.correct,
                n.confidence,
                t.observed(),
                r.drop,
                n.text
            )?;
        }
        let total = self.stats.rules;
        writeln!(
            out,
            "# never applied: {} of {} rules",
            total - self.rows.len(),
            total
        )?;
        Ok(())
    }

    /// How many rules applied, and the `top` whose confidence dropped.
    pub fn summary(&self, rules: &dyn RuleCatalog, top: usize) -> Result<RuleHealth, StatsError> {
        let total = self.stats.rules;
        let mut drift = Vec::new();
        for r in self.rows.iter().filter(|r| r.drop > 0.0) {
            if drift.len() == top {
                break;
            }
            let t = self.stats.get(r.index as usize);
            if t.predicted == 0 {
                continue;
            }
            let n = self.name(rules, r)?;
            drift.push(RuleDrift {
                rule_id: n.rule_id,
                rule: n.text,
                mined_confidence: n.confidence,
                observed_confidence: t.observed(),
                predicted: t.predicted,
                correct: t.correct,
                records_applied: t.applied,
                records_held: t.held,
                records_broken: t.broken,
            });
        }
        Ok(RuleHealth {
            applied: self.rows.len(),
            never_applied: total - self.rows.len(),
            drift,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::RuleSource;

    /// Rule statistics and rule health come out the same from rules in memory, from rules on
    /// disk, and from rules that can only be read again in order (`pff merge`).
    #[test]
    fn rule_stats_and_health_do_not_depend_on_where_the_rules_are() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("r.rules");
        let text = "10\t9\t0.9\th(X,c) <= b(X,A)\n# x\n10\t5\t0.5\tg(X,Y) <= b(X,Y)\n\
                    4\t1\t0.25\th(X,d) <= \n8\t8\t1.0\tk(X,Y) <= b(Y,X)\n";
        std::fs::write(&path, text).unwrap();
        let whole = crate::rules::load_rules(&path).unwrap();
        let tallies: Vec<Tally> = vec![(0, 4, 1), (2, 3, 3), (3, 2, 0), (0, 1, 1)];
        let outputs = |rules: &dyn RuleCatalog, stats: &RuleStats| {
            let mut stats_txt = Vec::new();
            let rows = stats.write_with_health(rules, &mut stats_txt).unwrap();
            let mut health = Vec::new();
            rows.write(rules, &mut health).unwrap();
            let summary = rows.summary(rules, 20).unwrap();
            (stats_txt, health, summary)
        };
        let mut sparse = RuleStats::new(whole.rules.len());
        sparse.add(&tallies);
        let expected = outputs(&whole, &sparse);
        let listed = RuleSource::open(&[&path], 0.0, 1).unwrap();
        assert!(!listed.random_access());
        assert_eq!(outputs(&listed, &sparse), expected);
        let stored = RuleSource::open_indexed(&[&path], 0.0, 1, dir.path()).unwrap();
        assert!(stored.store().is_some());
        // Twice: a pass must not depend on an earlier one (shared file positions).
        assert_eq!(outputs(&stored, &sparse), expected);
        assert_eq!(outputs(&stored, &sparse), expected);
        let health = String::from_utf8(expected.1).unwrap();
        assert!(health.contains("r.rules:1\t2\t1\t1\t5\t2"), "{health}");
        assert!(
            health.ends_with("# never applied: 1 of 4 rules\n"),
            "{health}"
        );
        assert_eq!(expected.2.drift.len(), 2);
    }
}
