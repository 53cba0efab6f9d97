//! Unit tests of `json.rs`: the parser and the records.md mapping.
use super::*;
use crate::triples::mapping::{Mapping, RecordError, shape};

fn triples(json: &str) -> Vec<(String, String, String)> {
    let v = parse(json.as_bytes()).unwrap();
    let mut out = Vec::new();
    Mapping::default().record(&v, 0, &mut out).unwrap();
    out
}

fn t(s: &str, r: &str, o: &str) -> (String, String, String) {
    (s.into(), r.into(), o.into())
}

/// Shapes exactly as docs/records.md says, as second values of their slots.
#[test]
fn shapes_of_values() {
    for (v, want) in [
        ("0.05", "‹9.99›"),
        ("0.05%", "‹9.99%›"),
        ("12/02/2011 6:55 a.m.", "‹99/99/9999 9:99 a.a.›"),
        ("6:55  a.m.", "‹9:99 a.a.›"),
        ("Birmingham", "‹Aa›"),
        ("scip-inf-1", "‹a-a-9›"),
        ("São Paulo", "‹Aa Aa›"),
        ("", "‹›"),
    ] {
        assert_eq!(shape(v), want, "{v}");
    }
    let v = parse(br#"{"id":"R","abv":"0.05%","n":12,"o":{"x":"a"}}"#).unwrap();
    let m = Mapping {
        shapes: true,
        ..Mapping::default()
    };
    let mut out = Vec::new();
    m.record(&v, 0, &mut out).unwrap();
    assert_eq!(
        out,
        vec![
            t("R", "abv", "0.05%"),
            t("R", "abv", "‹9.99%›"),
            t("R", "n", "12"),
            t("R", "n", "‹99›"),
            t("R", "o", "R/o"),
            t("R/o", "x", "a"),
            t("R/o", "x", "‹a›"),
        ]
    );
}

#[test]
fn records_md_example() {
    let got = triples(
        r#"{"id":"C1","status":[{"status":"Active"}],"contract":[{"id":"K9","paymentContext":"Postpaid"}]}"#,
    );
    assert_eq!(
        got,
        vec![
            t("C1", "status", "C1/status[0]"),
            t("C1/status[0]", "status", "Active"),
            t("C1", "contract", "K9"),
            t("K9", "paymentContext", "Postpaid"),
        ]
    );
}

#[test]
fn lexical_numbers_booleans_nulls() {
    let got = triples(r#"{"a":12,"b":12.0,"c":1e3,"d":-0,"e":1e400,"f":true,"g":false,"h":null}"#);
    assert_eq!(
        got,
        vec![
            t("_:r0", "a", "12"),
            t("_:r0", "b", "12.0"),
            t("_:r0", "c", "1e3"),
            t("_:r0", "d", "-0"),
            t("_:r0", "e", "1e400"),
            t("_:r0", "f", "true"),
            t("_:r0", "g", "false"),
        ]
    );
}

#[test]
fn positions_nested_arrays_and_empty_values() {
    let got = triples(r#"{"k":[null,{},{"x":1},[[{"y":2}]]],"e":[],"o":{},"n":{"z":"w"}}"#);
    assert_eq!(
        got,
        vec![
            t("_:r0", "k", "_:r0/k[2]"),
            t("_:r0/k[2]", "x", "1"),
            t("_:r0", "k", "_:r0/k[3][0][0]"),
            t("_:r0/k[3][0][0]", "y", "2"),
            t("_:r0", "n", "_:r0/n"),
            t("_:r0/n", "z", "w"),
        ]
    );
}

#[test]
fn numeric_ids_and_non_scalar_ids() {
    let got = triples(r#"{"id":7,"a":{"id":true,"b":"c"},"d":{"id":1.50}}"#);
    assert_eq!(
        got,
        vec![
            t("7", "a", "7/a"),
            t("7/a", "id", "true"),
            t("7/a", "b", "c"),
            t("7", "d", "1.50"),
        ]
    );
}

#[test]
fn configurable_id_key() {
    let v = parse(br#"{"uuid":"U","id":"not-a-name"}"#).unwrap();
    let mut out = Vec::new();
    let m = Mapping {
        id_key: "uuid".into(),
        ..Mapping::default()
    };
    assert_eq!(m.record(&v, 3, &mut out).unwrap(), "U");
    assert_eq!(out, vec![t("U", "id", "not-a-name")]);
}

#[test]
fn duplicate_key_keeps_last_value() {
    assert_eq!(triples(r#"{"a":"1","a":"2"}"#), vec![t("_:r0", "a", "2")]);
    let mut many = String::from("{");
    for i in 0..40 {
        many.push_str(&format!("\"k{i}\":{i},"));
    }
    many.push_str("\"k3\":\"last\"}");
    let got = triples(&many);
    assert_eq!(got.len(), 40);
    assert!(got.contains(&t("_:r0", "k3", "last")));
}

#[test]
fn escapes_are_decoded_then_names_escaped() {
    let got = triples(r#"{"a\tb":"x\ny\\z","u":"\u00e9\ud83d\ude00"}"#);
    assert_eq!(
        got,
        vec![t("_:r0", "a\\tb", "x\\ny\\\\z"), t("_:r0", "u", "é😀")]
    );
}

#[test]
fn syntax_errors_have_line_and_column() {
    let text = b"{\n  \"a\": 1,\n  \"b\": tru\n}";
    let e = parse(text).unwrap_err();
    assert_eq!(e.line_column(text), (3, 8));
    for bad in [
        &b"{\"a\":NaN}"[..],
        b"{\"a\":Infinity}",
        b"[\"\\ud800\"]",
        b"[1,]",
        b"{\"a\" 1}",
        b"01",
        b"1.",
        b"\"unterminated",
        b"{} {}",
        b"",
        b"\xff",
    ] {
        assert!(parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let e = parse(deep.as_bytes()).unwrap_err();
    assert!(e.message.contains("nested deeper"));
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(parse(ok.as_bytes()).is_ok());
}

#[test]
fn json_lines_count_records_not_lines() {
    let items: Vec<_> = JsonLines::new(&b"{}\n\n  \n{\"a\":1}\r\n{}"[..])
        .map(|r| r.unwrap())
        .map(|(i, l, _)| (i, l))
        .collect();
    assert_eq!(items, vec![(0, 1), (1, 4), (2, 5)]);
    let doc = parse(b"[{},{}]").unwrap();
    assert_eq!(records(&doc).len(), 2);
    let doc = parse(b"{}").unwrap();
    assert_eq!(records(&doc).len(), 1);
}

#[test]
fn bom_is_skipped() {
    assert_eq!(parse("\u{feff}{}".as_bytes()).unwrap(), Json::Obj(vec![]));
}

#[test]
fn non_object_record_is_refused() {
    let v = parse(b"[1]").unwrap();
    let mut out = Vec::new();
    assert_eq!(
        Mapping::default().record(&v, 0, &mut out),
        Err(RecordError::NotAnObject("an array"))
    );
}
