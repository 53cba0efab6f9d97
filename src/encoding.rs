//! Do the records speak the rules' language? Rules learned under one encoding (mapping, name
//! key) and checked under another mostly never apply, and pff would find nothing and say OK.
//! Before checking, the relations the rules use are compared with those the first records give
//! under the encoding in force; when a notable share of rules uses relations the records never
//! hold, pff says so once, naming them, and the encoding under which the records do give them
//! when one exists (issue 23).

use std::collections::HashSet;
use std::io::Read;
use std::path::Path;

use crate::triples::Mapping;
use crate::triples::{DataError, Format, MappingKind, input};

/// Records sampled from the start of the data.
pub const SAMPLE_RECORDS: usize = 50;
/// Bytes read from the start of a JSON Lines, CSV or triples file for the sample.
const SAMPLE_BYTES: usize = 1 << 20;
/// A JSON document is sampled only when it is at most this large (it is parsed whole).
const SAMPLE_DOCUMENT: u64 = 1 << 20;
/// The share of rules using relations the sample never holds from which pff speaks up.
/// Measured (BENCHMARKS.md, "Encoding checks"): rules checked under their own encoding leave
/// none unmatched in 50 records (the tmf rule set on audit.jsonl, 0 of 16,847; rules-900 under
/// plain and under tmf, 0 of 4,643; the tables' rules, 0 of 41,621 and 0 of 5,414); a wrong
/// mapping leaves 87%, a wrong name key 31%, the predecessor's rules (`id` triples) 84%.
pub const THRESHOLD: f64 = 0.2;

/// How many rules use the id key as a relation, when at least [`THRESHOLD`] of them do: rules
/// learned on a graph that holds `(X, id, X)` for every node, as the predecessor's does; they
/// are checked with [`Mapping::id_triples`].
pub fn wants_id_triples(per_relation: &[(&str, u32)], total: usize, id_key: &str) -> Option<u32> {
    let n = per_relation.iter().find(|(r, _)| *r == id_key)?.1;
    (f64::from(n) >= THRESHOLD * total as f64 && total > 0).then_some(n)
}

/// Rules whose relations the records never hold.
#[derive(Debug, Clone, PartialEq)]
pub struct Mismatch {
    /// The encoding in force.
    pub mapping: Mapping,
    pub rules: usize,
    /// Rules using at least one relation the sample never holds (at most; a rule using two such
    /// relations is counted once per relation, capped at `rules`).
    pub unmatched: usize,
    /// Those relations, most rules first: name and rules using it.
    pub relations: Vec<(String, u32)>,
    /// An encoding under which the sample gives most of them, and the rules then unmatched.
    pub fix: Option<(Mapping, usize)>,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shown: Vec<String> = self
            .relations
            .iter()
            .take(5)
            .map(|(r, n)| format!("`{r}` ({n} rules)"))
            .collect();
        write!(
            f,
            "about {} of {} rules use relations the first records never give under {}: {}{}",
            self.unmatched,
            self.rules,
            self.mapping.flags(),
            shown.join(", "),
            if self.relations.len() > 5 {
                format!(" and {} more", self.relations.len() - 5)
            } else {
                String::new()
            }
        )?;
        match &self.fix {
            Some((m, left)) => write!(
                f,
                "; these records give them under {} (then about {left} unmatched): the rules \
                 were probably learned so",
                m.flags()
            ),
            None => write!(
                f,
                "; no other mapping or name key gives them: were the rules learned on other data?"
            ),
        }
    }
}

/// The start of a data file, enough for [`SAMPLE_RECORDS`] records; none when it cannot be
/// sampled cheaply (standard input, a large JSON document).
pub fn read_sample(path: &Path, format: Format) -> Option<Vec<u8>> {
    if path.as_os_str() == input::STDIN {
        return None;
    }
    let mut f = std::fs::File::open(path).ok()?;
    if format == Format::Json {
        if f.metadata().ok()?.len() > SAMPLE_DOCUMENT {
            return None;
        }
        let mut all = Vec::new();
        f.read_to_end(&mut all).ok()?;
        return Some(all);
    }
    let mut head = Vec::new();
    f.take(SAMPLE_BYTES as u64).read_to_end(&mut head).ok()?;
    if head.len() == SAMPLE_BYTES
        && let Some(end) = head.iter().rposition(|&b| b == b'\n')
    {
        head.truncate(end + 1);
    }
    Some(head)
}

/// The triples of the sample's first records under `mapping` (records that fail are left out).
fn triples(sample: &[u8], format: Format, mapping: &Mapping) -> Vec<(String, String, String)> {
    enum Stop {
        Enough,
        Data,
    }
    impl From<DataError> for Stop {
        fn from(_: DataError) -> Self {
            Stop::Data
        }
    }
    let syms = crate::triples::no_symbols();
    let mut out = Vec::new();
    let mut seen = 0;
    let _ = input::read_records(sample, format, "sample", syms, 8, |raw| {
        for r in raw {
            if let Ok((b, _)) = r.triples(syms, mapping, "sample") {
                out.extend(
                    b.unique_triples()
                        .map(|(s, p, o)| (s.to_string(), p.to_string(), o.to_string())),
                );
            }
            seen += 1;
            if seen >= SAMPLE_RECORDS {
                return Err(Stop::Enough);
            }
        }
        Ok::<(), Stop>(())
    });
    out
}

/// The relations rules use that the triples never hold, most rules first, and how many rules
/// use them (capped at `total`).
fn missing(
    per_relation: &[(&str, u32)],
    total: usize,
    held: &HashSet<&str>,
) -> (usize, Vec<(String, u32)>) {
    let mut rels: Vec<(String, u32)> = per_relation
        .iter()
        .filter(|(r, _)| !held.contains(r))
        .map(|(r, n)| (r.to_string(), *n))
        .collect();
    rels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let n: u64 = rels.iter().map(|(_, n)| u64::from(*n)).sum();
    (n.min(total as u64) as usize, rels)
}

/// Compares the rules' relations with the sample's under `mapping`; a mismatch when at least
/// [`THRESHOLD`] of the rules use relations it never holds, with the encoding (of the
/// mappings, and name keys that hold the missing entry names) that matches best.
pub fn diagnose(
    sample: &[u8],
    format: Format,
    mapping: &Mapping,
    per_relation: &[(&str, u32)],
    total: usize,
) -> Option<Mismatch> {
    if total == 0 {
        return None;
    }
    let unmatched_in = |t: &[(String, String, String)]| {
        let held: HashSet<&str> = t.iter().map(|(_, r, _)| r.as_str()).collect();
        missing(per_relation, total, &held)
    };
    let unmatched_under = |m: &Mapping| unmatched_in(&triples(sample, format, m));
    // No record of the sample could be read: nothing to compare (its errors are reported
    // where the records are checked).
    let given = triples(sample, format, mapping);
    if given.is_empty() {
        return None;
    }
    let (unmatched, relations) = unmatched_in(&given);
    if (unmatched as f64) < THRESHOLD * total as f64 {
        return None;
    }
    // Name keys worth trying: the current one, and every key whose value in the records is an
    // entry name a missing `k:NAME` relation speaks of.
    let names: HashSet<&str> = relations
        .iter()
        .filter_map(|(r, _)| r.split_once(':').map(|(_, n)| n))
        .collect();
    let plain = Mapping {
        kind: MappingKind::Plain,
        ..mapping.clone()
    };
    let mut keys: Vec<String> = vec![mapping.name_key.clone()];
    for (_, r, o) in triples(sample, format, &plain) {
        if names.contains(o.as_str()) && !keys.contains(&r) {
            keys.push(r);
        }
    }
    let mut best: Option<(Mapping, usize)> = None;
    for kind in [MappingKind::Plain, MappingKind::Nested, MappingKind::Tmf] {
        let ks: &[String] = if kind == MappingKind::Plain {
            &keys[..1]
        } else {
            &keys
        };
        for k in ks {
            let m = Mapping {
                kind,
                name_key: k.clone(),
                ..mapping.clone()
            };
            if m == *mapping {
                continue;
            }
            let (left, _) = unmatched_under(&m);
            if best.as_ref().is_none_or(|(_, b)| left < *b) {
                best = Some((m, left));
            }
        }
    }
    // Only an encoding that leaves at most half as many unmatched is a likely fix.
    let fix = best.filter(|(_, left)| *left * 2 <= unmatched);
    Some(Mismatch {
        mapping: mapping.clone(),
        rules: total,
        unmatched,
        relations,
        fix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{"id":"K1","status":[{"status":"On"}],"characteristic":[{"charSpecExternalId":"clientCategory","value":"pos"}],"paymentContext":"Postpaid"}"#;

    fn tmf(key: &str) -> Mapping {
        Mapping {
            kind: MappingKind::Tmf,
            name_key: key.into(),
            ..Mapping::default()
        }
    }

    #[test]
    fn a_wrong_mapping_or_name_key_is_named_with_the_fix() {
        let rules = [
            ("characteristic:clientCategory", 40),
            ("status.status", 30),
            ("paymentContext", 50),
        ];
        let sample = format!("{RECORD}\n");
        let d = diagnose(
            sample.as_bytes(),
            Format::Jsonl,
            &Mapping::default(),
            &rules,
            100,
        )
        .unwrap();
        assert_eq!(d.unmatched, 70);
        assert_eq!(d.relations[0].0, "characteristic:clientCategory");
        // `nested` gives them as well as `tmf` here (no history in the record): the simpler
        // comes first.
        let nested = Mapping {
            kind: MappingKind::Nested,
            ..tmf("charSpecExternalId")
        };
        assert_eq!(d.fix, Some((nested, 0)));
        let msg = d.to_string();
        assert!(
            msg.contains("`characteristic:clientCategory` (40 rules)")
                && msg.contains("--mapping nested --name-key charSpecExternalId"),
            "{msg}"
        );
        // The wrong name key alone.
        let d = diagnose(sample.as_bytes(), Format::Jsonl, &tmf("name"), &rules, 100).unwrap();
        assert_eq!(d.unmatched, 40);
        assert_eq!(d.fix.unwrap().0.name_key, "charSpecExternalId");
        // The right encoding: nothing to say; nor for plain rules under tmf.
        assert!(
            diagnose(
                sample.as_bytes(),
                Format::Jsonl,
                &tmf("charSpecExternalId"),
                &rules,
                100
            )
            .is_none()
        );
        let plain_rules = [("paymentContext", 50), ("status", 10)];
        assert!(
            diagnose(
                sample.as_bytes(),
                Format::Jsonl,
                &tmf("charSpecExternalId"),
                &plain_rules,
                60
            )
            .is_none()
        );
    }

    #[test]
    fn an_unreadable_sample_says_nothing() {
        assert!(
            diagnose(
                b"{not json\n",
                Format::Jsonl,
                &Mapping::default(),
                &[("a", 5)],
                5
            )
            .is_none()
        );
    }

    #[test]
    fn rules_of_other_data_have_no_fix() {
        let sample = format!("{RECORD}\n");
        let d = diagnose(
            sample.as_bytes(),
            Format::Jsonl,
            &Mapping::default(),
            &[("flight", 10), ("paymentContext", 1)],
            11,
        )
        .unwrap();
        assert!(d.fix.is_none());
        assert!(d.to_string().contains("learned on other data"), "{d}");
    }
}
