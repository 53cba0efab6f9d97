//! Hostile input: parsers never panic, give a clear error or a correct result.

use std::fs;

mod common;
use common::{pff, pff_run, write};
use pff::manifest::Manifest;
use pff::rules::RuleSet;
use pff::triples::Mapping;
use pff::triples::json::parse;
use pff::triples::{TripleSink, tsv};
use proptest::prelude::*;
use tempfile::TempDir;

/// Counts triples without keeping them.
#[derive(Default)]
struct Count(usize, bool);

impl TripleSink for Count {
    fn triple(&mut self, s: &str, r: &str, o: &str) {
        self.0 += 1;
        // Every name must survive a TSV round trip: no raw TAB, CR or LF.
        if [s, r, o].iter().any(|x| x.contains(['\t', '\n', '\r'])) {
            self.1 = true;
        }
    }
}

/// Arbitrary JSON values, serialised by serde_json (so always valid JSON).
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::Bool),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| serde_json::json!(f)),
        "\\PC*".prop_map(serde_json::Value::String),
        "[\t\n\r\\\\\"a-z]{0,8}".prop_map(serde_json::Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(serde_json::Value::Array),
            prop::collection::btree_map("[a-z\t\n]{0,6}|id", inner, 0..8)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn json_parser_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn json_parser_accepts_all_valid_json_and_names_are_tsv_safe(v in json_value()) {
        let text = serde_json::to_string(&v).unwrap();
        let parsed = parse(text.as_bytes());
        prop_assert!(parsed.is_ok(), "{text}: {parsed:?}");
        let parsed = parsed.unwrap();
        let mut sink = Count::default();
        if Mapping::default().record(&parsed, 0, &mut sink).is_ok() {
            prop_assert!(!sink.1, "a name with a raw TAB/CR/LF from {text}");
        }
    }

    #[test]
    fn truncated_json_is_an_error_not_a_panic(v in json_value(), cut in 0usize..100) {
        let text = serde_json::to_string(&v).unwrap();
        let cut = cut.min(text.len());
        let _ = parse(&text.as_bytes()[..cut]);
    }

    #[test]
    fn rules_reader_never_panics_on_bytes(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _ = RuleSet::from_text("r", &String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn tsv_reader_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let mut sink = Count::default();
        let _ = tsv::read("t.tsv", &bytes[..], &mut sink);
    }

    #[test]
    fn manifest_parser_never_panics(text in "\\PC{0,200}") {
        let _ = Manifest::parse(std::path::Path::new("m.yaml"), &text);
    }

    #[test]
    fn tasks_files_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        ext in prop::sample::select(vec!["txt", "csv", "jsonl"]),
    ) {
        let d = TempDir::new().unwrap();
        let name = format!("t.{ext}");
        fs::write(d.path().join(&name), &bytes).unwrap();
        let text = format!("execution_id: x\nsource_template: http://h/{{msisdn}}\ntasks_file: {name}\n");
        let _ = Manifest::parse(&d.path().join("m.yaml"), &text);
    }

    #[test]
    fn manifest_parser_never_panics_on_yamlish(
        lines in prop::collection::vec("(execution_id|tasks|- msisdn|max_workers|rules|  sequence|reports)(: )?[a-z0-9 \\[\\],:-]{0,12}", 0..8)
    ) {
        let _ = Manifest::parse(std::path::Path::new("m.yaml"), &lines.join("\n"));
    }
}

#[test]
fn numbers_keep_their_lexical_form() {
    let v = parse(br#"{"a":1e400,"b":-0,"c":1E3,"d":0.10}"#).unwrap();
    let mut out: Vec<(String, String, String)> = Vec::new();
    Mapping::default().record(&v, 0, &mut out).unwrap();
    let objects: Vec<&str> = out.iter().map(|t| t.2.as_str()).collect();
    assert_eq!(objects, vec!["1e400", "-0", "1E3", "0.10"]);
}

/// `pff validate DATA --rules RULES --format json --fail-on never`: it exits 0; the report.
fn json_report(data: &str, rules: &str) -> serde_json::Value {
    let args = [
        "validate",
        data,
        "--rules",
        rules,
        "--format",
        "json",
        "--fail-on",
        "never",
    ];
    let out = pff(&args).assert().code(0);
    serde_json::from_slice(&out.get_output().stdout).expect("a JSON report")
}

#[test]
fn huge_arrays_and_megabyte_lines() {
    let dir = TempDir::new().unwrap();
    // A record with 200,000 array elements.
    let items: Vec<String> = (0..200_000).map(|i| format!("\"v{i}\"")).collect();
    let data = write(
        &dir,
        "big.json",
        format!("{{\"id\":\"R\",\"k\":[{}]}}", items.join(",")).as_bytes(),
    );
    // A 4 MB constant in a rule.
    let rules = write(
        &dir,
        "big.rules",
        format!(
            "k(X,{}) <= k(X,v1)\nk(X,v2) <= k(X,v1)\n",
            "c".repeat(4 << 20)
        )
        .as_bytes(),
    );
    let v = json_report(&data, &rules);
    assert_eq!(v["records"][0]["triples"], 200_000);
    assert_eq!(v["records"][0]["rules"]["violated"], 1);
}

#[test]
fn deep_nesting_is_refused_with_a_located_error() {
    let dir = TempDir::new().unwrap();
    let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
    let data = write(&dir, "deep.json", deep.as_bytes());
    let rules = write(&dir, "r.rules", b"h(X,c) <= a(X,A)\n");
    let out = pff(&["validate", &data, "--rules", &rules])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.contains("deep.json:1:") && err.contains("nested deeper than 512"),
        "{err}"
    );
}

#[test]
fn empty_and_odd_files() {
    let dir = TempDir::new().unwrap();
    let rules = write(&dir, "r.rules", b"h(X,c) <= a(X,A)\n");
    let empty_json = write(&dir, "e.json", b"");
    let out = pff(&["validate", &empty_json, "--rules", &rules])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("e.json:1:1: invalid JSON"));
    let empty_tsv = write(&dir, "e.tsv", b"");
    pff(&["validate", &empty_tsv, "--rules", &rules])
        .assert()
        .code(0);
    let crlf = write(
        &dir,
        "c.jsonl",
        b"\xef\xbb\xbf{\"id\":\"A\",\"a\":\"b\"}\r\n\r\n{\"id\":\"B\",\"a\":\"b\"}\r\n",
    );
    let v = json_report(&crlf, &rules);
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    assert_eq!(v["records"][1]["name"], "B");
    let dup = write(&dir, "d.json", br#"{"id":"A","a":"x","a":"y"}"#);
    let out = pff(&["triples", &dup]).assert().code(0);
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "A\ta\ty\n"
    );
}

#[test]
fn a_million_rule_lines_with_one_bad_line_at_the_end() {
    let dir = TempDir::new().unwrap();
    let mut text = String::with_capacity(24_000_000);
    for i in 0..999_999 {
        text.push_str(&format!("h(X,c{i}) <= b(X,A)\n"));
    }
    text.push_str("h(X,c) <= b(X,\n");
    let rules = write(&dir, "million.rules", text.as_bytes());
    let data = write(&dir, "d.json", br#"{"id":"A","b":"x"}"#);
    let out = pff(&["validate", &data, "--rules", &rules])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("1 bad line"), "{err}");
    assert!(err.contains("million.rules:1000000:"), "{err}");
}

#[test]
fn unwritable_output_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let m = dir.path().join("m.yaml");
    let rec = write(&dir, "a.json", br#"{"id":"A","b":"x"}"#);
    let rules = write(&dir, "r.rules", b"h(X,c) <= b(X,A)\n");
    fs::write(
        &m,
        format!("execution_id: x\nrules: {rules}\ntasks:\n- msisdn: {rec}\n"),
    )
    .unwrap();
    // A regular file where the output folder should go.
    let blocker = write(&dir, "blocker", b"");
    let out = pff_run(&m, format!("{blocker}/out"), &[]).assert().code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("cannot write to the output folder"), "{err}");
    let v = pff(&[
        "validate",
        &rec,
        "--rules",
        &rules,
        "-o",
        &format!("{blocker}/r.txt"),
    ])
    .assert()
    .code(2);
    assert!(String::from_utf8_lossy(&v.get_output().stderr).contains("cannot create"));
}

#[test]
fn a_full_disk_is_a_clear_error() {
    let dir = TempDir::new().unwrap();
    let rec = write(&dir, "a.json", br#"{"id":"A","b":"x"}"#);
    let rules = write(&dir, "r.rules", b"h(X,c) <= b(X,A)\n");
    if !std::path::Path::new("/dev/full").exists() {
        return;
    }
    // /dev/full answers every write with ENOSPC.
    let out = pff(&["validate", &rec, "--rules", &rules, "-o", "/dev/full"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.contains("No space left on device"), "{err}");
    let out = pff(&[
        "validate",
        &rec,
        "--rules",
        &rules,
        "--rule-stats",
        "/dev/full",
        "-o",
        "/dev/null",
    ])
    .assert()
    .code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("No space left"));
}

#[test]
fn task_ids_cannot_write_outside_the_output_folder() {
    let dir = TempDir::new().unwrap();
    let rec = write(&dir, "a.json", br#"{"id":"A","b":"x"}"#);
    let rules = write(&dir, "r.rules", b"h(X,c) <= b(X,A)\n");
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: x\nrules: {rules}\ntasks:\n- msisdn: ../../escape\n  source: {rec}\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    pff_run(&m, &out, &[]).assert().code(1);
    assert!(!dir.path().join("escape").exists());
    let names: Vec<_> = fs::read_dir(out.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 1);
    assert!(
        names[0]
            .to_string_lossy()
            .starts_with("000000-.._.._escape"),
        "{names:?}"
    );
}
