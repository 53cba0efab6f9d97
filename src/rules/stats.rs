//! What a rules file holds: counts by shape and body length, a confidence histogram, the
//! relations it talks about (`pff rules stats`).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

use super::{RuleSet, Shape};

/// Summary of a rule set.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RuleSetStats {
    /// The rules file(s).
    pub source: String,
    /// Rules read.
    pub rules: usize,
    /// Shape name -> count.
    pub by_shape: BTreeMap<String, usize>,
    /// Body length -> count.
    pub by_body_length: BTreeMap<usize, usize>,
    /// Ten bins of width 0.1; the last includes 1.0.
    pub confidence_histogram: [usize; 10],
    /// Rules whose counts are unknown (bare rule lines).
    pub without_counts: usize,
    /// Rules that use `me_myself_i` (a value equal to the subject).
    pub uses_equality_token: usize,
    /// Distinct relations the rules use.
    pub distinct_relations: usize,
    /// Distinct constants the rules use.
    pub distinct_constants: usize,
    /// The most frequent head relations, most rules first (ties by name).
    pub top_head_relations: Vec<(String, usize)>,
}

impl RuleSetStats {
    /// The statistics of `rs`, with its `top` most frequent head relations.
    pub fn of(rs: &RuleSet, top: usize) -> Self {
        let mut by_shape = BTreeMap::new();
        let mut by_body_length = BTreeMap::new();
        let mut hist = [0usize; 10];
        let mut heads: BTreeMap<&str, usize> = BTreeMap::new();
        for r in &rs.rules {
            *by_shape.entry(r.shape().name().to_string()).or_default() += 1;
            *by_body_length.entry(r.body.len()).or_default() += 1;
            hist[((r.confidence * 10.0) as usize).min(9)] += 1;
            *heads.entry(rs.relation(r.head.rel)).or_default() += 1;
        }
        let mut top_heads: Vec<(String, usize)> =
            heads.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        top_heads.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        top_heads.truncate(top);
        RuleSetStats {
            source: rs.source.clone(),
            rules: rs.rules.len(),
            by_shape,
            by_body_length,
            confidence_histogram: hist,
            without_counts: rs.rules.iter().filter(|r| r.predicted.is_none()).count(),
            uses_equality_token: rs
                .rules
                .iter()
                .filter(|r| r.text.contains(super::parse::ME_MYSELF_I))
                .count(),
            distinct_relations: rs.symbols.relations.len(),
            distinct_constants: rs.symbols.entities.len(),
            top_head_relations: top_heads,
        }
    }

    /// A person-readable rendering.
    pub fn render(&self) -> String {
        let mut s = format!("{}: {} rules\n", self.source, self.rules);
        s.push_str("by shape:\n");
        for shape in [
            Shape::Zero,
            Shape::Cyclic,
            Shape::Ac1,
            Shape::Ac2,
            Shape::Reflexive,
        ] {
            let n = self.by_shape.get(shape.name()).copied().unwrap_or(0);
            let _ = writeln!(s, "  {:<24} {n:>9}", shape.name());
        }
        s.push_str("by body length:\n");
        for (len, n) in &self.by_body_length {
            let _ = writeln!(s, "  {len:<24} {n:>9}");
        }
        s.push_str("confidence:\n");
        let max = self
            .confidence_histogram
            .iter()
            .copied()
            .max()
            .unwrap_or(1)
            .max(1);
        for (i, n) in self.confidence_histogram.iter().enumerate() {
            let bar = "#".repeat((n * 40).div_ceil(max));
            let _ = writeln!(
                s,
                "  [{:.1}, {:.1}{} {n:>9} {bar}",
                i as f64 / 10.0,
                (i + 1) as f64 / 10.0,
                if i == 9 { "]" } else { ")" }
            );
        }
        let _ = writeln!(
            s,
            "relations: {}, constants: {}, rules with me_myself_i: {}, without counts: {}",
            self.distinct_relations,
            self.distinct_constants,
            self.uses_equality_token,
            self.without_counts
        );
        s.push_str("most frequent head relations:\n");
        for (rel, n) in &self.top_head_relations {
            let _ = writeln!(s, "  {n:>9}  {rel}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_shapes_lengths_and_confidences() {
        let rs = RuleSet::from_text(
            "r",
            "10\t9\t0.9\th(X,Y) <= b(X,Y)\n10\t1\t0.1\th(X,c) <= b(X,A), d(A,e)\n1\t1\t1.0\tg(X,me_myself_i) <= b(X,A)\nh(X,c) <= \n",
        )
        .unwrap();
        let s = RuleSetStats::of(&rs, 5);
        assert_eq!(s.rules, 4);
        assert_eq!(s.by_shape["cyclic"], 1);
        assert_eq!(s.by_shape["zero"], 1);
        assert_eq!(s.by_shape["reflexive"], 1);
        assert_eq!(s.by_body_length[&2], 1);
        assert_eq!(s.confidence_histogram[9], 3);
        assert_eq!(s.confidence_histogram[1], 1);
        assert_eq!(s.uses_equality_token, 1);
        assert_eq!(s.without_counts, 1);
        assert_eq!(s.top_head_relations[0], ("h".to_string(), 3));
        assert!(s.render().contains("4 rules"));
    }
}
