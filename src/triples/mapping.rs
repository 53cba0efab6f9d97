//! The mapping of `docs/records.md`: how a JSON record (or a table row) becomes triples — the
//! key that names nodes, the derivations of the nested mappings (`derive.rs`), id
//! triples and shapes.

use super::derive::{Keys, MappingKind};
use super::json::Json;
use std::borrow::Cow;

use super::{TripleSink, escape};

/// The shape of a value (`--shapes`, `docs/records.md`): each digit becomes `9`, each run of
/// lowercase letters `a` and of uppercase letters `A` (other letters, as `a`), each run of
/// whitespace one space, anything else stays; the whole between `‹` and `›`, so that a shape
/// is never a value. `0.05` is `‹9.99›`, `0.05%` `‹9.99%›`, `12/02/2011 6:55 a.m.`
/// `‹99/99/9999 9:99 a.a.›`, `Birmingham` `‹Aa›`.
pub fn shape(value: &str) -> String {
    let mut out = String::with_capacity(value.len().min(64) + 6);
    out.push('‹');
    let mut last = None;
    for c in value.chars() {
        let class = if c.is_ascii_digit() {
            '9'
        } else if c.is_uppercase() {
            'A'
        } else if c.is_alphabetic() {
            'a'
        } else if c.is_whitespace() {
            ' '
        } else {
            c
        };
        // Runs of letters and of whitespace are one; digits and punctuation are kept each.
        if matches!(class, 'a' | 'A' | ' ') && last == Some(class) {
            continue;
        }
        out.push(class);
        last = Some(class);
    }
    out.push('›');
    out
}

/// Why a record gives no triples.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// The record is not a JSON object (the kind it is instead).
    NotAnObject(&'static str),
    /// The nested mappings would derive more than `limit` triples from it.
    TooManyDerived {
        /// The bound ([`crate::defaults::MAX_DERIVED_TRIPLES`]).
        limit: usize,
    },
}

/// How records are named and keyed, and which derived triples are added (`--mapping`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// The key whose string or number value names an object's node (default `id`).
    pub id_key: String,
    /// The derivations added to the plain triples.
    pub kind: MappingKind,
    /// The key whose string names an entry of a name/value list (`nested` and `tmf` only).
    pub name_key: String,
    /// Every node (every non-empty object) also gets `(node, id_key, node)`, as the
    /// predecessor's graph holds (`--id-triples`).
    pub id_triples: bool,
    /// Every scalar value also gives its shape as a second value of its slot
    /// ([`shape`], `--shapes`): what a column's values look like becomes learnable.
    pub shapes: bool,
    /// A file's records are checked together as one graph (`--one-graph`,
    /// [`crate::triples::one_graph`]): values shared between records are one node, as
    /// `pff learn` sees the file, so rules through other records fire.
    pub one_graph: bool,
}

impl Default for Mapping {
    fn default() -> Self {
        Self {
            id_key: crate::defaults::ID_KEY.to_string(),
            kind: MappingKind::Plain,
            name_key: crate::defaults::NAME_KEY.to_string(),
            id_triples: false,
            shapes: false,
            one_graph: false,
        }
    }
}

impl Mapping {
    /// The mapping as an execution records it and a baseline compares it: `plain`,
    /// `nested name_key=K` or `tmf name_key=K`, with ` id_key=K` when the id key is not `id`.
    pub fn describe(&self) -> String {
        let mut s = self.kind.to_string();
        if self.kind != MappingKind::Plain {
            s.push_str(&format!(" name_key={}", self.name_key));
        }
        if self.id_key != crate::defaults::ID_KEY {
            s.push_str(&format!(" id_key={}", self.id_key));
        }
        if self.id_triples {
            s.push_str(" id_triples");
        }
        if self.shapes {
            s.push_str(" shapes");
        }
        if self.one_graph {
            s.push_str(" one_graph");
        }
        s
    }

    /// The mapping as the flags that ask for it (`--mapping tmf --name-key K`, with `--id-key`
    /// when not `id`, `--id-triples`, `--shapes`): what messages tell a person to pass.
    pub fn flags(&self) -> String {
        let mut s = format!("--mapping {}", self.kind);
        if self.kind != MappingKind::Plain {
            s.push_str(&format!(" --name-key {}", self.name_key));
        }
        if self.id_key != crate::defaults::ID_KEY {
            s.push_str(&format!(" --id-key {}", self.id_key));
        }
        if self.id_triples {
            s.push_str(" --id-triples");
        }
        if self.shapes {
            s.push_str(" --shapes");
        }
        if self.one_graph {
            s.push_str(" --one-graph");
        }
        s
    }

    /// Emits the triples of record number `index` (0-based in its file) and returns the name
    /// of its root node. The record must be an object, and give at most
    /// [`MAX_DERIVED_TRIPLES`](crate::defaults::MAX_DERIVED_TRIPLES) derived triples.
    pub fn record(
        &self,
        value: &Json<'_>,
        index: usize,
        sink: &mut impl TripleSink,
    ) -> Result<String, RecordError> {
        self.record_within(value, index, crate::defaults::MAX_DERIVED_TRIPLES, sink)
    }

    /// [`record`](Self::record) with `limit` derived triples at most.
    pub fn record_within(
        &self,
        value: &Json<'_>,
        index: usize,
        limit: usize,
        sink: &mut impl TripleSink,
    ) -> Result<String, RecordError> {
        let Json::Obj(pairs) = value else {
            return Err(RecordError::NotAnObject(value.kind()));
        };
        let root = self.node_id(pairs).unwrap_or_else(|| format!("_:r{index}"));
        let mut allowance = super::derive::Allowance::new(limit);
        self.object(pairs, &root, &mut allowance, sink);
        if allowance.exceeded() {
            return Err(RecordError::TooManyDerived { limit });
        }
        Ok(root)
    }

    /// What the derivations read of this mapping.
    fn keys(&self) -> Keys<'_> {
        Keys {
            kind: self.kind,
            name_key: &self.name_key,
            id_key: &self.id_key,
        }
    }

    /// The node an object names by its id key, if any.
    pub(super) fn node_id(&self, pairs: &[(Cow<'_, str>, Json<'_>)]) -> Option<String> {
        self.keys().node_id(pairs)
    }

    fn object(
        &self,
        pairs: &[(Cow<'_, str>, Json<'_>)],
        name: &str,
        allowance: &mut super::derive::Allowance,
        sink: &mut impl TripleSink,
    ) {
        // The predecessor's graph says of every node, named by its id or not, that it is itself.
        if self.id_triples {
            sink.triple(name, &escape(&self.id_key), name);
        }
        for (k, v) in pairs {
            if *k == self.id_key && matches!(v, Json::Str(_) | Json::Num(_)) {
                continue;
            }
            let rel = escape(k);
            let path = format!("{name}/{rel}");
            self.value(name, &rel, v, path, allowance, sink);
            if self.kind != MappingKind::Plain {
                super::derive::lift(&self.keys(), name, k, v, allowance, sink);
            }
        }
    }

    /// The triples of `(s, rel, v)`; `path` is the position name a child object would get.
    fn value(
        &self,
        s: &str,
        rel: &str,
        v: &Json<'_>,
        path: String,
        allowance: &mut super::derive::Allowance,
        sink: &mut impl TripleSink,
    ) {
        match v {
            Json::Null => {}
            Json::Bool(b) => sink.triple(s, rel, if *b { "true" } else { "false" }),
            Json::Num(n) => {
                sink.triple(s, rel, n);
                if self.shapes {
                    sink.triple(s, rel, &shape(n));
                }
            }
            Json::Str(x) => {
                sink.triple(s, rel, &escape(x));
                if self.shapes {
                    sink.triple(s, rel, &escape(&shape(x)));
                }
            }
            Json::Obj(pairs) => {
                if pairs.is_empty() {
                    return;
                }
                let child = self.node_id(pairs).unwrap_or(path);
                sink.triple(s, rel, &child);
                self.object(pairs, &child, allowance, sink);
            }
            Json::Arr(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.value(s, rel, item, format!("{path}[{i}]"), allowance, sink);
                }
            }
        }
    }
}
