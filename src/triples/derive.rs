//! The derived triples of the nested mappings (`--mapping nested|tmf`, `docs/records.md`).
//!
//! A nested record puts a value several hops from the object it describes: a status sits in a
//! status entry (`product -status-> product/status[0] -status-> ProductActive`), a
//! characteristic's value two objects below its owner. Rules of length 2 cannot link such
//! values across levels. These derivations give the owner a direct triple as well; they only
//! ever add triples (the plain triples are all still there), so rules learned on the plain
//! mapping keep matching.
//!
//! An *entry* is an object without its own id (named by position) held under key `k` of an
//! owner, directly or in an array. Derived relation names are built from keys and entry names
//! with `%`, `.`, `:`, `@`, `(`, `)` and `,` percent-encoded (`%25`, `%2E`, ...), so that the
//! separators below never come from a key; the name is then escaped like any other
//! ([`escape`]).

use std::borrow::Cow;

use super::json::Json;
use super::{TripleSink, escape};

/// The derivations a mapping adds to the plain triples of records.md.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Default,
    clap::ValueEnum,
    serde::Serialize,
    serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum MappingKind {
    /// records.md exactly: no derived triple.
    #[default]
    Plain,
    /// Wrapper shortcuts and name/value lifting.
    Nested,
    /// `nested` plus the TM Forum Open API convention for histories: the current entry of a
    /// list whose entries carry `validFor` periods (the one without `validFor.endDateTime`).
    Tmf,
}

impl std::fmt::Display for MappingKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MappingKind::Plain => "plain",
            MappingKind::Nested => "nested",
            MappingKind::Tmf => "tmf",
        })
    }
}

/// The key of a name/value entry that holds its value.
pub const VALUE_KEY: &str = "value";
/// The TM Forum key of an entry's validity period, and of the period's end.
const PERIOD_KEY: &str = "validFor";
const PERIOD_END_KEY: &str = "endDateTime";

/// How many more derived triples (or slots) one record may give. Once spent, deriving stops
/// where it is and the record fails ([`MAX_DERIVED_TRIPLES`](crate::defaults::MAX_DERIVED_TRIPLES)).
pub(super) struct Allowance {
    left: usize,
    exceeded: bool,
}

impl Allowance {
    pub(super) fn new(limit: usize) -> Self {
        Self {
            left: limit,
            exceeded: false,
        }
    }

    /// Takes one; false (and the allowance is exceeded) when none is left.
    fn take(&mut self) -> bool {
        if self.left == 0 {
            self.exceeded = true;
            return false;
        }
        self.left -= 1;
        true
    }

    pub(super) fn exceeded(&self) -> bool {
        self.exceeded
    }
}

/// What the derivations read of a mapping: its kind, the key naming a list's entries and
/// the key naming nodes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Keys<'a> {
    /// The mapping's kind (histories are the TM Forum profile's).
    pub kind: MappingKind,
    /// The key whose string names an entry of a name/value list.
    pub name_key: &'a str,
    /// The key whose string or number value names an object's node.
    pub id_key: &'a str,
}

impl Keys<'_> {
    /// The node an object names by its id key (a string, escaped, or a number), if any.
    pub(super) fn node_id(&self, pairs: &[(Cow<'_, str>, Json<'_>)]) -> Option<String> {
        pairs.iter().find_map(|(k, v)| match v {
            Json::Str(s) if *k == self.id_key => Some(escape(s).into_owned()),
            Json::Num(n) if *k == self.id_key => Some((*n).to_string()),
            _ => None,
        })
    }
}

/// The derived triples of `owner`'s key `key` holding `v` (the plain triples are written by
/// the caller), each with its origin: the node that holds the value.
pub(super) fn lift(
    m: &Keys<'_>,
    owner: &str,
    key: &str,
    v: &Json<'_>,
    allowance: &mut Allowance,
    sink: &mut impl TripleSink,
) {
    // Only objects and arrays hold entries (most values are scalars: nothing to name).
    if allowance.exceeded() || !matches!(v, Json::Obj(_) | Json::Arr(_)) {
        return;
    }
    let mut entries = Vec::new();
    collect_entries(m, v, format!("{owner}/{}", escape(key)), &mut entries);
    if entries.is_empty() {
        return;
    }
    // A history: the TM Forum profile, and entries that carry validity periods.
    let history = m.kind == MappingKind::Tmf
        && entries
            .iter()
            .any(|(_, e)| matches!(get(e, PERIOD_KEY), Some(Json::Obj(_))));
    let wrapped = escape(&format!("{0}.{0}", part(key))).into_owned();
    let current = format!("{wrapped}@current");
    for (node, e) in &entries {
        let now = history && is_current(e);
        // Wrapper shortcut: owner -k-> e, e -k-> v (through same-key wrappers)
        //   => (owner, k.k, v); in a history, also (owner, k.k@current, v) when e is current.
        if !allowance.take() {
            return;
        }
        match get(e, key) {
            Some(inner) => scalars(m, inner, key, node, &mut |holder, x| {
                if !allowance.take() {
                    return false;
                }
                sink.triple(owner, &wrapped, x);
                sink.origin(owner, &wrapped, Some(x), holder);
                if now {
                    sink.triple(owner, &current, x);
                    sink.origin(owner, &current, Some(x), holder);
                }
                true
            }),
            // An entry without a value under the list's key: where the slot's value would be
            // (a status entry whose `status` is gone).
            None => {
                sink.origin(owner, &wrapped, None, node);
                if now {
                    sink.origin(owner, &current, None, node);
                }
            }
        }
        // Name/value lifting: owner -k-> e, e -name_key-> N, e -value-> v (through `value`
        // wrappers) => (owner, k:N, v).
        if let Some(Json::Str(name)) = get(e, m.name_key) {
            let rel = escape(&format!("{}:{}", part(key), part(name))).into_owned();
            match get(e, VALUE_KEY) {
                Some(value) => scalars(m, value, VALUE_KEY, node, &mut |holder, x| {
                    if !allowance.take() {
                        return false;
                    }
                    sink.triple(owner, &rel, x);
                    sink.origin(owner, &rel, Some(x), holder);
                    true
                }),
                None => sink.origin(owner, &rel, None, node),
            }
        }
    }
}

/// An object's key/value pairs, as parsed.
type Pairs<'d, 'a> = &'d [(Cow<'a, str>, Json<'a>)];

/// The entries in `v` with their node names (`path` is `v`'s position name): `v` itself when
/// it is an object without an id, or such objects at any depth of an array.
fn collect_entries<'d, 'a>(
    m: &Keys<'_>,
    v: &'d Json<'a>,
    path: String,
    out: &mut Vec<(String, Pairs<'d, 'a>)>,
) {
    match v {
        Json::Obj(pairs) if !pairs.is_empty() && m.node_id(pairs).is_none() => {
            out.push((path, pairs))
        }
        Json::Arr(items) => {
            for (i, item) in items.iter().enumerate() {
                if matches!(item, Json::Obj(_) | Json::Arr(_)) {
                    collect_entries(m, item, format!("{path}[{i}]"), out);
                }
            }
        }
        _ => {}
    }
}

/// The value of `key` in an object (the last one, as for the plain triples).
fn get<'d, 'a>(pairs: &'d [(Cow<'a, str>, Json<'a>)], key: &str) -> Option<&'d Json<'a>> {
    pairs.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// An entry is current unless its period has an end.
fn is_current(pairs: &[(Cow<'_, str>, Json<'_>)]) -> bool {
    match get(pairs, PERIOD_KEY) {
        Some(Json::Obj(period)) => matches!(get(period, PERIOD_END_KEY), None | Some(Json::Null)),
        _ => true,
    }
}

/// Each scalar of `v` in its triple form with the node that holds it: `v` itself, the
/// elements of an array, and what an entry holds under the same `key` (a wrapper), at any
/// depth. `holder` holds `v`, held under `key`. `each` returns false to stop the walk.
fn scalars(
    m: &Keys<'_>,
    v: &Json<'_>,
    key: &str,
    holder: &str,
    each: &mut impl FnMut(&str, &str) -> bool,
) {
    /// False once `each` said stop.
    fn walk(
        m: &Keys<'_>,
        v: &Json<'_>,
        key: &str,
        holder: &str,
        path: String,
        each: &mut impl FnMut(&str, &str) -> bool,
    ) -> bool {
        match v {
            Json::Null => true,
            Json::Bool(b) => each(holder, if *b { "true" } else { "false" }),
            Json::Num(n) => each(holder, n),
            Json::Str(s) => each(holder, &escape(s)),
            // A scalar's position name is never used: only containers build theirs (a name
            // is as long as the record is deep).
            Json::Arr(items) => items.iter().enumerate().all(|(i, item)| {
                let at = match item {
                    Json::Obj(_) | Json::Arr(_) => format!("{path}[{i}]"),
                    _ => String::new(),
                };
                walk(m, item, key, holder, at, each)
            }),
            Json::Obj(pairs) => {
                if m.node_id(pairs).is_none()
                    && let Some(inner) = get(pairs, key)
                {
                    let below = format!("{path}/{}", escape(key));
                    return walk(m, inner, key, &path, below, each);
                }
                true
            }
        }
    }
    walk(m, v, key, holder, format!("{holder}/{}", escape(key)), each);
}

/// A key or an entry name as part of a derived relation name: the separators and the
/// characters of rule syntax percent-encoded.
pub fn part(s: &str) -> Cow<'_, str> {
    const SPECIAL: &[char] = &['%', '.', ':', '@', '(', ')', ','];
    if !s.contains(SPECIAL) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 6);
    for c in s.chars() {
        if SPECIAL.contains(&c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
#[path = "derive_tests.rs"]
mod tests;
