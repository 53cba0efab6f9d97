//! Duplicate keys in a tasks file of any length, found exactly in little memory: a first pass
//! puts every key in a Bloom filter (16 bits a key, 6 probes: about 1 false alarm in 1,000),
//! and keeps the keys the filter says it may have seen — the real duplicates and the false
//! alarms; a second pass finds, for those keys only, where each first appears and which lines
//! repeat it. Memory: 2 bytes a key plus the suspected keys (the duplicated ones and ~0.1%).

use std::hash::{Hash, Hasher};

use rustc_hash::FxHashMap;

/// Probes per key.
const PROBES: u64 = 6;
/// Bits per expected key.
const BITS_PER_KEY: usize = 16;

/// A Bloom filter over keys: [`Bloom::insert`] says whether the key may have been inserted
/// before (never "no" for a key that was).
pub(super) struct Bloom {
    bits: Vec<u64>,
}

/// Two independent 64-bit hashes of a key (FxHash, then a SplitMix64 finalizer of it with
/// another seed), from which the probes are derived (Kirsch-Mitzenmacher double hashing).
fn hashes(key: &str) -> (u64, u64) {
    let mut h = rustc_hash::FxHasher::default();
    key.hash(&mut h);
    let a = mix(h.finish());
    let b = mix(a ^ 0x9e37_79b9_7f4a_7c15) | 1;
    (a, b)
}

/// SplitMix64's finalizer: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Bloom {
    /// A filter sized for `expected` keys.
    pub(super) fn new(expected: usize) -> Self {
        let words = (expected.max(64) * BITS_PER_KEY).div_ceil(64);
        Bloom {
            bits: vec![0; words],
        }
    }

    /// Inserts `key`; whether it may have been inserted before.
    pub(super) fn insert(&mut self, key: &str) -> bool {
        let (a, b) = hashes(key);
        let n = (self.bits.len() * 64) as u64;
        let mut seen = true;
        for i in 0..PROBES {
            let bit = a.wrapping_add(i.wrapping_mul(b)) % n;
            let (word, mask) = ((bit / 64) as usize, 1u64 << (bit % 64));
            seen &= self.bits[word] & mask != 0;
            self.bits[word] |= mask;
        }
        seen
    }
}

/// The keys a first pass suspects; the second pass tells duplicates from false alarms.
#[derive(Default)]
pub(super) struct Suspects {
    /// Key -> the line where it first appears (found by the second pass).
    first: FxHashMap<String, Option<usize>>,
}

impl Suspects {
    pub(super) fn add(&mut self, key: &str) {
        if !self.first.contains_key(key) {
            self.first.insert(key.to_string(), None);
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.first.is_empty()
    }

    /// Second pass, in file order: the line of the earlier task with this key, when there is
    /// one.
    pub(super) fn repeat(&mut self, key: &str, line: usize) -> Option<usize> {
        let first = self.first.get_mut(key)?;
        match *first {
            Some(l) => Some(l),
            None => {
                *first = Some(line);
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The two passes against a hash map of every key.
    fn duplicates(keys: &[String]) -> Vec<(usize, usize)> {
        let mut bloom = Bloom::new(keys.len());
        let mut suspects = Suspects::default();
        for k in keys {
            if bloom.insert(k) {
                suspects.add(k);
            }
        }
        keys.iter()
            .enumerate()
            .filter_map(|(line, k)| suspects.repeat(k, line).map(|first| (line, first)))
            .collect()
    }

    fn naive(keys: &[String]) -> Vec<(usize, usize)> {
        let mut first = std::collections::HashMap::new();
        keys.iter()
            .enumerate()
            .filter_map(|(line, k)| match first.get(k) {
                Some(&f) => Some((line, f)),
                None => {
                    first.insert(k, line);
                    None
                }
            })
            .collect()
    }

    proptest! {
        #[test]
        fn finds_exactly_the_repeated_keys(keys in prop::collection::vec("[a-c]{1,3}", 0..200)) {
            prop_assert_eq!(duplicates(&keys), naive(&keys));
        }
    }

    #[test]
    fn false_alarms_are_rare() {
        let mut bloom = Bloom::new(100_000);
        let alarms = (0..100_000)
            .filter(|i| bloom.insert(&format!("55119{i:08}")))
            .count();
        assert!(
            alarms < 500,
            "{alarms} false alarms in 100,000 distinct keys"
        );
    }
}
