//! What a ranked finding keeps: its strongest members ([`MemberKey`], in [`member_order`]) and
//! the rules shown with their evidence ([`TopMember`]), shared by the ranking (`record.rs`) and
//! the findings it streams (`findings.rs`).

use std::sync::Arc;

use super::grouping::Key;
use crate::report::FindingKind;
use crate::rules::{EntId, RelId, Rule};

/// What ranks a violation inside its finding.
#[derive(Debug, Clone, Copy)]
pub(super) struct MemberKey {
    /// `confidence / on_record`: a rule broken everywhere on a record says little about any
    /// one gap; a rule broken once points at it.
    pub(super) weight: f64,
    pub(super) confidence: f64,
    /// The rule's line in its file.
    pub(super) line: u32,
    /// The rule's index in the whole rule set.
    pub(super) rule: u32,
}

/// Strongest evidence first; ties by rule line, then rule order (deterministic).
pub(super) fn member_order(a: &MemberKey, b: &MemberKey) -> std::cmp::Ordering {
    b.weight
        .total_cmp(&a.weight)
        .then(b.confidence.total_cmp(&a.confidence))
        .then(a.line.cmp(&b.line))
        .then(a.rule.cmp(&b.rule))
}

/// A rule shown with its evidence in a finding.
#[derive(Debug)]
pub(super) struct TopMember {
    pub(super) key: MemberKey,
    pub(super) rule: Arc<Rule>,
    pub(super) binding: Box<[EntId]>,
    /// The rule's violations on this record.
    pub(super) on_record: u64,
}

/// A group that made the record's findings, with its evidence.
#[derive(Debug)]
pub(super) struct Kept {
    pub(super) key: (EntId, RelId, EntId),
    pub(super) kind: FindingKind,
    /// A culprit: the present triple to fix (`key` is then the strongest conflict it
    /// explains), and the conflicts it explains, strongest first.
    pub(super) culprit: Option<Key>,
    pub(super) explains: Vec<Key>,
    /// The values the slot holds (conflicts), at most [`MAX_PRESENT`].
    pub(super) present: Vec<EntId>,
    pub(super) score: f64,
    /// The node to fix: the missing triple's subject, or where a derived value lives.
    pub(super) focus: EntId,
    /// The other missing triples on the same focus, strongest first (at most
    /// [`MAX_CONSEQUENCES`](super::MAX_CONSEQUENCES)), and how many there are.
    pub(super) consequences: Vec<Key>,
    pub(super) consequence_count: u32,
    /// At or above `keep`: listed with its rules and their witnesses.
    pub(super) with_evidence: bool,
    /// What its evidence rests on.
    pub(super) basis: super::grouping::Basis,
    pub(super) count: u32,
    /// The strongest members, with what each weighs on this finding.
    pub(super) top: Vec<MemberKey>,
    pub(super) evidence: Vec<TopMember>,
}

impl Kept {
    /// Its strongest member (`top` is never empty: a finding has a rule).
    pub(super) fn strongest(&self) -> MemberKey {
        self.top[0]
    }
}
