//! Unit tests of `derive.rs`: the nested mappings' derived triples.
use super::*;
use crate::triples::RecordError;
use crate::triples::json::parse;
use crate::triples::mapping::Mapping;

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

fn o(s: &str, r: &str, v: Option<&str>, node: &str) -> (String, String, Option<String>, String) {
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
        one_graph: false,
    };
    assert_eq!(m.describe(), "tmf name_key=charSpecExternalId id_key=uuid");
    let m = Mapping {
        one_graph: true,
        ..Mapping::default()
    };
    assert_eq!(m.describe(), "plain one_graph");
    assert_eq!(m.flags(), "--mapping plain --one-graph");
}
