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

use super::json::{Json, Mapping};
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

/// The derived triples of `owner`'s key `key` holding `v` (the plain triples are written by
/// the caller), each with its origin: the node that holds the value.
pub(super) fn lift(
    m: &Mapping,
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
        if let Some(Json::Str(name)) = get(e, &m.name_key) {
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
    m: &Mapping,
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
    m: &Mapping,
    v: &Json<'_>,
    key: &str,
    holder: &str,
    each: &mut impl FnMut(&str, &str) -> bool,
) {
    /// False once `each` said stop.
    fn walk(
        m: &Mapping,
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
mod tests {
    use super::*;
    use crate::triples::json::{RecordError, parse};

    fn triples(kind: MappingKind, name_key: &str, json: &str) -> Vec<(String, String, String)> {
        let v = parse(json.as_bytes()).unwrap();
        let m = Mapping {
            kind,
            name_key: name_key.into(),
            ..Mapping::default()
        };
        let mut out = Vec::new();
        m.record(&v, 0, &mut out).unwrap();
        out
    }

    fn derived(kind: MappingKind, json: &str) -> Vec<(String, String, String)> {
        let plain = triples(MappingKind::Plain, "name", json);
        let all = triples(kind, "name", json);
        for t in &plain {
            assert!(all.contains(t), "{t:?} dropped");
        }
        all.into_iter().filter(|t| !plain.contains(t)).collect()
    }

    fn t(s: &str, r: &str, o: &str) -> (String, String, String) {
        (s.into(), r.into(), o.into())
    }

    /// Status wrappers `depth` deep with `width` values a level: derived triples grow as
    /// width x depth^2 / 2.
    fn deep(depth: usize, width: usize) -> String {
        let values: Vec<String> = (0..width).map(|i| format!("\"v{i}\"")).collect();
        let values = values.join(",");
        let mut inner = String::from("\"end\"");
        for _ in 0..depth {
            inner = format!(r#"{{"status":[{values},{inner}]}}"#);
        }
        format!(r#"{{"id":"R","status":[{inner}]}}"#)
    }

    #[test]
    fn derived_triples_are_bounded_per_record() {
        let text = deep(40, 20);
        let v = parse(text.as_bytes()).unwrap();
        let plain = {
            let mut out = Vec::new();
            Mapping::default().record(&v, 0, &mut out).unwrap();
            out.len()
        };
        for kind in [MappingKind::Nested, MappingKind::Tmf] {
            let m = Mapping {
                kind,
                ..Mapping::default()
            };
            // What the record gives in full, counted by an allowance that is never spent.
            let mut all = Vec::new();
            m.record_within(&v, 0, usize::MAX, &mut all).unwrap();
            assert!(all.len() > 10 * plain, "{} vs {plain}", all.len());
            // A bound below that fails the record, and stops deriving near the bound.
            let mut cut = Vec::new();
            let e = m.record_within(&v, 0, 1000, &mut cut).unwrap_err();
            assert_eq!(e, RecordError::TooManyDerived { limit: 1000 });
            assert!(cut.len() <= plain + 2 * 1000, "{}", cut.len());
        }
        // The plain mapping derives nothing: no bound applies.
        let mut out = Vec::new();
        assert!(Mapping::default().record_within(&v, 0, 0, &mut out).is_ok());
    }

    #[test]
    fn wrapper_shortcut_through_nested_wrappers() {
        let got = derived(
            MappingKind::Nested,
            r#"{"id":"P","status":[{"status":"On"},{"status":"Off"}],
                "value":[{"value":[{"value":"x"}]}],"size":{"size":7}}"#,
        );
        assert_eq!(
            got,
            vec![
                t("P", "status.status", "On"),
                t("P", "status.status", "Off"),
                t("P/value[0]", "value.value", "x"),
                t("P", "value.value", "x"),
                t("P", "size.size", "7"),
            ]
        );
    }

    #[test]
    fn objects_with_an_id_are_not_entries() {
        let got = derived(
            MappingKind::Tmf,
            r#"{"id":"C","contract":[{"id":"K","contract":"x","name":"n","value":"v"}]}"#,
        );
        assert_eq!(got, vec![]);
    }

    #[test]
    fn name_value_lifting_with_a_name_key() {
        let json = r#"{"id":"K","characteristic":[
            {"charSpecExternalId":"clientCategory","value":[{"value":"pos","unit":"u"}]},
            {"charSpecExternalId":"quota.max","value":12},
            {"charSpecExternalId":"nothing"}]}"#;
        let all = triples(MappingKind::Nested, "charSpecExternalId", json);
        assert!(all.contains(&t("K", "characteristic:clientCategory", "pos")));
        assert!(all.contains(&t("K", "characteristic:quota%2Emax", "12")));
        assert!(!all.iter().any(|x| x.1.contains("nothing")));
        // With the standard's name key, these entries have no name: nothing is lifted.
        let std = triples(MappingKind::Nested, "name", json);
        assert!(!std.iter().any(|x| x.1.starts_with("characteristic:")));
    }

    #[test]
    fn tmf_histories_have_a_current_entry() {
        let got = derived(
            MappingKind::Tmf,
            r#"{"id":"K","status":[
                {"status":"Active","validFor":{"startDateTime":"a","endDateTime":"b"}},
                {"status":"Terminated","validFor":{"startDateTime":"b"}}]}"#,
        );
        assert_eq!(
            got,
            vec![
                t("K", "status.status", "Active"),
                t("K", "status.status", "Terminated"),
                t("K", "status.status@current", "Terminated"),
            ]
        );
        // Without periods a list is not a history; `nested` has no histories at all.
        let plain_list = derived(MappingKind::Tmf, r#"{"id":"K","status":[{"status":"A"}]}"#);
        assert_eq!(plain_list, vec![t("K", "status.status", "A")]);
        let nested = derived(
            MappingKind::Nested,
            r#"{"id":"K","status":[{"status":"A","validFor":{"startDateTime":"a"}}]}"#,
        );
        assert_eq!(nested, vec![t("K", "status.status", "A")]);
    }

    #[test]
    fn a_removed_status_leaves_no_current_value() {
        let got = derived(
            MappingKind::Tmf,
            r#"{"id":"K","status":[
                {"status":"Active","validFor":{"startDateTime":"a","endDateTime":"b"}},
                {"validFor":{"startDateTime":"b"}}]}"#,
        );
        assert_eq!(got, vec![t("K", "status.status", "Active")]);
    }

    #[test]
    fn derived_names_are_encoded_then_escaped() {
        assert_eq!(part("a.b:c@d(e),f%"), "a%2Eb%3Ac%40d%28e%29%2Cf%25");
        let got = derived(
            MappingKind::Nested,
            r#"{"id":"K","x.y":{"x.y":"v\tw"},"c":[{"name":"a\tb","value":true}]}"#,
        );
        assert_eq!(
            got,
            vec![t("K", "x%2Ey.x%2Ey", "v\\tw"), t("K", "c:a\\tb", "true")]
        );
    }

    #[test]
    fn a_derived_name_that_is_also_a_key_merges_with_it() {
        // The record's own key `s.s` and the derived relation of `s` are the same relation:
        // triples are a set, so an equal triple counts once.
        let json = r#"{"id":"K","s.s":"v","s":[{"s":"v"},{"s":"w"}]}"#;
        let all = triples(MappingKind::Nested, "name", json);
        let mut set: Vec<_> = all.clone();
        set.sort();
        set.dedup();
        assert_eq!(all.len(), set.len() + 1);
        assert!(set.contains(&t("K", "s.s", "w")));
    }

    /// Records origins as `(s, r, o, node)`.
    #[derive(Default)]
    struct Origins(Vec<(String, String, Option<String>, String)>);

    impl TripleSink for Origins {
        fn triple(&mut self, _: &str, _: &str, _: &str) {}
        fn origin(&mut self, s: &str, r: &str, o: Option<&str>, node: &str) {
            self.0
                .push((s.into(), r.into(), o.map(Into::into), node.into()));
        }
    }

    fn origins(json: &str) -> Vec<(String, String, Option<String>, String)> {
        let v = parse(json.as_bytes()).unwrap();
        let m = Mapping {
            kind: MappingKind::Tmf,
            name_key: "charSpecExternalId".into(),
            ..Mapping::default()
        };
        let mut out = Origins::default();
        m.record(&v, 0, &mut out).unwrap();
        out.0
    }

    fn o(
        s: &str,
        r: &str,
        v: Option<&str>,
        node: &str,
    ) -> (String, String, Option<String>, String) {
        (s.into(), r.into(), v.map(Into::into), node.into())
    }

    #[test]
    fn derived_values_point_at_the_node_that_holds_them() {
        let got = origins(
            r#"{"id":"K","characteristic":[{"charSpecExternalId":"a","value":[{"value":"x"}]},
                {"charSpecExternalId":"b","value":[[{"value":"y"}]]}]}"#,
        );
        assert!(got.contains(&o(
            "K",
            "characteristic:a",
            Some("x"),
            "K/characteristic[0]/value[0]"
        )));
        assert!(got.contains(&o(
            "K",
            "characteristic:b",
            Some("y"),
            "K/characteristic[1]/value[0][0]"
        )));
        assert!(got.contains(&o(
            "K/characteristic[0]",
            "value.value",
            Some("x"),
            "K/characteristic[0]/value[0]"
        )));
    }

    #[test]
    fn an_entry_without_its_value_is_the_slot() {
        let got = origins(
            r#"{"id":"K","status":[
                {"status":"Active","validFor":{"startDateTime":"a","endDateTime":"b"}},
                {"validFor":{"startDateTime":"b"}}],
                "characteristic":[{"charSpecExternalId":"a"}]}"#,
        );
        // Every entry is the place of its own key's slot (`validFor.validFor` too: harmless
        // unless a rule predicts that relation).
        assert_eq!(
            got,
            vec![
                o(
                    "K/status[0]",
                    "validFor.validFor",
                    None,
                    "K/status[0]/validFor"
                ),
                o(
                    "K/status[1]",
                    "validFor.validFor",
                    None,
                    "K/status[1]/validFor"
                ),
                o("K", "status.status", Some("Active"), "K/status[0]"),
                o("K", "status.status", None, "K/status[1]"),
                o("K", "status.status@current", None, "K/status[1]"),
                o(
                    "K",
                    "characteristic.characteristic",
                    None,
                    "K/characteristic[0]"
                ),
                o("K", "characteristic:a", None, "K/characteristic[0]"),
            ]
        );
    }

    #[test]
    fn describe_names_the_parameters() {
        assert_eq!(Mapping::default().describe(), "plain");
        let m = Mapping {
            kind: MappingKind::Tmf,
            name_key: "charSpecExternalId".into(),
            id_key: "uuid".into(),
            id_triples: false,
            shapes: false,
        };
        assert_eq!(m.describe(), "tmf name_key=charSpecExternalId id_key=uuid");
    }
}
