//! A finding's score: its rules' weights combined ([`combined_score`]), summed exactly in
//! fixed point ([`LogSum`]) so that the order rules arrive in never changes a bit of it.

/// Fixed-point steps per unit of log-probability in [`LogSum`].
const LOG_SCALE: f64 = (1u64 << 32) as f64;

/// A sum of `ln(1 - p)` in fixed point (2^-32 steps), each `p` capped at 0.999. Integer sums
/// are exact, so a noisy-or built from it does not depend on the order its terms arrive in:
/// rules checked in batches, in parallel or all at once give the same score, to the last bit.
/// Every term is at most 0, so saturating at `i64::MIN` (a product far below 1e-300) is
/// order-independent too.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogSum(i64);

impl LogSum {
    fn term(p: f64) -> i64 {
        ((1.0 - p.clamp(0.0, 0.999)).ln() * LOG_SCALE).round() as i64
    }

    /// Adds `ln(1 - p)`, `p` capped at 0.999.
    pub fn add(&mut self, p: f64) {
        self.0 = self.0.saturating_add(Self::term(p));
    }

    /// `1 - prod(1 - p)` over the terms added.
    pub fn noisy_or(self) -> f64 {
        1.0 - (self.0 as f64 / LOG_SCALE).exp()
    }

    /// The noisy-or of the terms added but one, `p` (which must be one of them).
    pub fn noisy_or_without(self, p: f64) -> f64 {
        LogSum(self.0.saturating_sub(Self::term(p))).noisy_or()
    }
}

/// Noisy-or of probabilities, each capped at 0.999: `1 - prod(1 - p)` (via [`LogSum`]).
pub fn noisy_or(ps: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = LogSum::default();
    for p in ps {
        sum.add(p);
    }
    sum.noisy_or()
}

/// A finding's score from its rules' weights: the strongest weight, raised halfway toward
/// certainty by the noisy-or of the others. Mined rules that agree are strongly correlated
/// (AnyBURL emits many variants of one regularity), so full noisy-or would let fifty weak
/// variants outvote one strong rule; the strongest rule leads, agreement breaks ties.
pub fn combined_score(weights: impl IntoIterator<Item = f64>) -> f64 {
    let mut sum = LogSum::default();
    let mut strongest = None::<f64>;
    for w in weights {
        sum.add(w);
        strongest = Some(strongest.map_or(w, |s| s.max(w)));
    }
    strongest.map_or(0.0, |s| score_of(s, sum))
}

/// [`combined_score`] from the strongest weight and the [`LogSum`] of every weight (the
/// strongest included): what a finding built batch by batch keeps.
pub fn score_of(strongest: f64, all: LogSum) -> f64 {
    let s = strongest.clamp(0.0, 1.0);
    s + (1.0 - s) * 0.5 * all.noisy_or_without(strongest)
}
