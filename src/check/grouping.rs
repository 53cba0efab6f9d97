//! How a record's findings are grouped and scored beside their evidence: one finding per wrong
//! value (`one_per_value`), what an empty slot's predictions say together (`empty_slots`),
//! culprits heading their nodes (`add_culprits`), and the severity a finding may reach
//! (`severity_of`: never an error without informative evidence). `record.rs` runs these steps.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::Options;
use super::culprit;
use super::{FetchError, MAX_CONSEQUENCES};
use crate::report::Severity;
use crate::rules::{EntId, RelId, Rule};

/// A missing triple: `(subject, relation, object)`.
pub(super) type Key = (EntId, RelId, EntId);

/// What a finding is ranked by (the groups themselves stay where they are until the ones kept
/// are chosen: ranking a record with 20k findings holds 20k of these).
pub(super) struct Rank {
    pub(super) score: f64,
    pub(super) max_confidence: f64,
    pub(super) count: u32,
    pub(super) key: Key,
    pub(super) focus: EntId,
    /// A culprit (index in the record's culprits): `key` is the culprit triple.
    pub(super) culprit: Option<usize>,
    /// What its evidence rests on (`RecordCheck::evidence_of`).
    pub(super) basis: Basis,
}

/// What a finding's evidence rests on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Basis {
    /// Some rule beats the value's prior.
    Rules,
    /// The value's prior alone (a column's usual value, and rules that do not beat it): never
    /// an error.
    Prior,
    /// A prior alone against a present value that a rule with a body vouches for (it holds
    /// for this record, beating the present value's own prior): a column's majority says
    /// nothing against a minority the other cells agree with, so never more than info.
    PriorAgainstVouched,
}

/// The findings that follow a node's strongest one: how many, and the strongest few.
#[derive(Default)]
pub(super) struct Consequences {
    pub(super) count: u32,
    pub(super) keys: Vec<Key>,
}

/// One finding per wrong value (after SAFRAN/HoloClean: blame the value, not the rule). A
/// wrong value breaks several expectations on its node: an offering id swapped conflicts with
/// its external id, name and price, whose rules all read the offering id. So a finding is a
/// stronger finding's consequence (listed with it, not ranked on its own) when its rules read
/// that finding's slot, or rest on a slot that finding's rules rest on too (one value explains
/// both); one that shares no such reason is another wrong value, a finding of its own (typos
/// in a table row's city and its measure name are two findings). Findings on relations a
/// nested mapping derives (their focus is the node holding the value, not the subject) keep
/// one finding per node: a removed status empties its slot and the derived ones alike.
///
/// `reads(r, h)`: whether `r` follows `h` so (the strongest few rules of each are read). Findings are taken
/// strongest first by `order`; at most [`MAX_HEADS_TESTED`] heads a node are tested and past
/// [`MAX_TESTED_PER_NODE`] findings a node the rest follow its strongest (bounded rule fetches).
pub(super) fn one_per_value(
    mut ranks: Vec<Rank>,
    order: impl Fn(&Rank, &Rank) -> std::cmp::Ordering,
    mut reads: impl FnMut(&Rank, &Rank) -> Result<bool, FetchError>,
) -> Result<(Vec<Rank>, FxHashMap<Key, Consequences>), FetchError> {
    ranks.sort_unstable_by(&order);
    let mut per_node: FxHashMap<EntId, u32> = FxHashMap::default();
    for r in &ranks {
        *per_node.entry(r.focus).or_default() += 1;
    }
    let derived = |r: &Rank| r.focus != r.key.0;
    let mut heads_of: FxHashMap<EntId, (u32, Vec<usize>)> = FxHashMap::default();
    let mut owner: Vec<Option<usize>> = vec![None; ranks.len()];
    for i in 0..ranks.len() {
        let r = &ranks[i];
        let (seen, heads) = heads_of.entry(r.focus).or_default();
        *seen += 1;
        let Some(&first) = heads.first() else {
            heads.push(i);
            continue;
        };
        if per_node[&r.focus] == 1 {
            continue;
        }
        if derived(r) || derived(&ranks[first]) || *seen as usize > MAX_TESTED_PER_NODE {
            owner[i] = Some(first);
            continue;
        }
        let mut of = None;
        for &h in heads.iter().take(MAX_HEADS_TESTED) {
            if reads(r, &ranks[h])? {
                of = Some(h);
                break;
            }
        }
        match of {
            Some(h) => owner[i] = Some(h),
            None if heads.len() < MAX_HEADS_TESTED => heads.push(i),
            None => owner[i] = Some(first),
        }
    }
    let mut consequences: FxHashMap<Key, Consequences> = FxHashMap::default();
    for (i, o) in owner.iter().enumerate() {
        if let Some(h) = o {
            // Strongest first: `ranks` is in order.
            let c = consequences.entry(ranks[*h].key).or_default();
            c.count += 1;
            if c.keys.len() < MAX_CONSEQUENCES {
                c.keys.push(ranks[i].key);
            }
        }
    }
    let mut flags = owner.into_iter();
    ranks.retain(|_| flags.next().is_some_and(|o| o.is_none()));
    Ok((ranks, consequences))
}

/// What a rule's prediction for its head's subject rests on: the relations of its body atoms
/// on that subject (a zero rule's: none).
pub(super) fn reasons_of_rule(rule: &Rule) -> Vec<RelId> {
    let Some(x) = rule.head.s.var() else {
        return Vec::new();
    };
    rule.body
        .iter()
        .filter(|a| a.s.var() == Some(x) || a.o.var() == Some(x))
        .map(|a| a.rel)
        .collect()
}

/// How much of the doubt a body-less rule leaves (`1 - prior`) a rule must remove to count as
/// evidence beside it ([`RecordCheck::evidence_of`]).
pub const LIFT: f64 = 0.25;

/// A finding's severity: by its score, but never an error on a prior alone, and never more
/// than info on a prior against a vouched value ([`Basis`]).
pub(super) fn severity_of(opts: &Options, score: f64, basis: Basis) -> Severity {
    match (opts.severity.of(score), basis) {
        (_, Basis::PriorAgainstVouched) => Severity::Info,
        (Severity::Error, Basis::Prior) => Severity::Warning,
        (s, _) => s,
    }
}

/// The heads (independent wrong values) a node's finding is tested against, at most.
const MAX_HEADS_TESTED: usize = 8;
/// The findings of one node tested at all; the weaker rest follow its strongest.
const MAX_TESTED_PER_NODE: usize = 64;
/// The strongest rules of a finding whose bodies are read for [`one_per_value`].
pub(super) const RULES_READ: usize = 3;

/// What the predictions for one empty slot say together.
pub(super) struct Slot {
    /// The strongest prediction (its missing triple) and its own evidence.
    pub(super) head: Key,
    head_evidence: f64,
    /// The evidence that the slot should hold some value, in fixed point (2^-32 steps, so the
    /// sum does not depend on the order groups come in): the predictions are for different
    /// values, exclusive hypotheses, so their probabilities add up (capped below 1). Rules
    /// that disagree on the value agree that one is missing.
    sum: u64,
    pub(super) informative: bool,
    count: u32,
}

impl Slot {
    pub(super) fn evidence(&self) -> f64 {
        (self.sum as f64 / LOG_STEPS).min(0.999)
    }
}

/// Fixed-point steps per unit of evidence in [`Slot::sum`].
const LOG_STEPS: f64 = (1u64 << 32) as f64;

/// The empty slots with more than one predicted value, by (subject, relation). The values
/// predicted under one condition (the same rule body: `act_arr_time(X,10:30 p.m.) <=
/// flight(X,AA-1733)` and `act_arr_time(X,10:31 p.m.) <= flight(X,AA-1733)`) are exclusive
/// outcomes of it, so their evidence adds up; different conditions are not, and the slot takes
/// the strongest condition's sum. `bodies_of` gives a group's conditions (its strongest
/// rules' body texts). Only predictions with a rule that beats their value's prior speak for
/// the slot: a column's usual values predicted for every row alike say nothing of this row's
/// empty cell, however many of them add up (they stay findings of their own).
pub(super) fn empty_slots<'n, G>(
    scored: &[(Key, &G, f64, bool, bool)],
    name: impl Fn(EntId) -> &'n str,
    mut bodies_of: impl FnMut(&G) -> Result<Vec<Arc<str>>, FetchError>,
) -> Result<FxHashMap<(EntId, RelId), Slot>, FetchError> {
    let mut per_slot: FxHashMap<(EntId, RelId), u32> = FxHashMap::default();
    for &(key, _, _, informative, empty) in scored {
        if empty && informative {
            *per_slot.entry((key.0, key.1)).or_default() += 1;
        }
    }
    let mut slots: FxHashMap<(EntId, RelId), Slot> = FxHashMap::default();
    let mut sums: FxHashMap<((EntId, RelId), Arc<str>), u64> = FxHashMap::default();
    for &(key, group, evidence, informative, empty) in scored {
        let slot_key = (key.0, key.1);
        if !empty || !informative || per_slot[&slot_key] < 2 {
            continue;
        }
        let slot = slots.entry(slot_key).or_insert(Slot {
            head: key,
            head_evidence: evidence,
            sum: 0,
            informative: false,
            count: 0,
        });
        // The head: the strongest, ties broken by the value's name (not its id, which depends
        // on the order the rules came in).
        let stronger = (evidence.to_bits(), std::cmp::Reverse(name(key.2)))
            > (
                slot.head_evidence.to_bits(),
                std::cmp::Reverse(name(slot.head.2)),
            );
        if slot.count > 0 && stronger {
            slot.head = key;
            slot.head_evidence = evidence;
        }
        slot.informative |= informative;
        slot.count += 1;
        for body in bodies_of(group)? {
            let sum = sums.entry((slot_key, body)).or_default();
            *sum = sum.saturating_add((evidence.clamp(0.0, 1.0) * LOG_STEPS).round() as u64);
            slot.sum = slot.sum.max(*sum);
        }
    }
    Ok(slots)
}

/// The score of a prediction for a slot that holds no value at all. On clean records a rule
/// that predicts a value for an empty slot is almost never wrong (0 of the 2,000 strongest
/// findings of the 200 clean reference records are empty slots, while a slot that holds
/// another value is where natural noise and rule exceptions show), so the evidence counts
/// twice, as if confirmed by an independent check: `1 - (1 - s)^2`. A prior, not yet
/// calibrated on corruptions.
pub fn empty_slot_score(evidence: f64) -> f64 {
    1.0 - (1.0 - evidence) * (1.0 - evidence)
}

/// Adds the culprits (strongest first) to the findings, one per node: a culprit heads its node
/// when it ranks above the node's finding (which becomes a consequence), else it adds nothing.
pub(super) fn add_culprits(
    mut ranks: Vec<Rank>,
    culprits: &[culprit::Culprit],
    consequences: &mut FxHashMap<Key, Consequences>,
    max_confidence: impl Fn(&Key) -> Option<f64>,
    order: impl Fn(&Rank, &Rank) -> std::cmp::Ordering,
) -> Vec<Rank> {
    if culprits.is_empty() {
        return ranks;
    }
    // Each node's strongest finding (`ranks` is in order: the first of a node).
    let mut head: FxHashMap<EntId, usize> = FxHashMap::default();
    for (i, r) in ranks.iter().enumerate() {
        head.entry(r.focus).or_insert(i);
    }
    let mut displaced = vec![false; ranks.len()];
    for (i, c) in culprits.iter().enumerate() {
        let strongest = c.explains.first().and_then(|e| max_confidence(&e.0));
        let rank = Rank {
            score: c.score,
            max_confidence: strongest.unwrap_or(0.0),
            count: c.explains.len() as u32,
            key: c.triple,
            focus: c.focus,
            culprit: Some(i),
            basis: Basis::Rules,
        };
        match head.get(&c.focus) {
            Some(&h) if order(&rank, &ranks[h]).is_ge() => continue,
            Some(&h) => {
                // The node's strongest finding follows the culprit, with its own consequences:
                // first of the culprit's.
                let mut node = consequences.remove(&ranks[h].key).unwrap_or_default();
                node.count += 1;
                node.keys.insert(0, ranks[h].key);
                node.keys.truncate(MAX_CONSEQUENCES);
                consequences.insert(c.triple, node);
                displaced[h] = true;
            }
            None => {}
        }
        head.insert(c.focus, ranks.len());
        ranks.push(rank);
        displaced.push(false);
    }
    let mut flags = displaced.into_iter();
    ranks.retain(|_| !flags.next().unwrap_or(false));
    ranks
}
