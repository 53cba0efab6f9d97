//! Tables in (issue 24): CSV and other delimited tables read as records, a row each, in every
//! command that reads data.

mod common;

use std::fs;

use common::{pff, read, stderr_of, write};

/// Rules over a flat table: a zip code determines its city and state.
const RULES: &str = "10\t9\t0.9\tcity(X,birmingham) <= zip(X,35233)\n\
10\t9\t0.9\tstate(X,al) <= zip(X,35233)\n\
10\t8\t0.8\tcity(X,dothan) <= zip(X,36301)\n";

/// The same rows as CSV (quotes, an empty cell, a BOM) and as JSON Lines.
const CSV: &str = "\u{feff}index,city,zip,state,note\n\
1,birmingham,35233,al,\"plain, quoted\"\n\
2,birminghxm,35233,al,\n\
3,dothan,36301,xx,\"two\nlines\"\n\
4,,35233,al,empty city\n";
const JSONL: &str = "{\"index\":\"1\",\"city\":\"birmingham\",\"zip\":\"35233\",\"state\":\"al\",\"note\":\"plain, quoted\"}\n\
{\"index\":\"2\",\"city\":\"birminghxm\",\"zip\":\"35233\",\"state\":\"al\"}\n\
{\"index\":\"3\",\"city\":\"dothan\",\"zip\":\"36301\",\"state\":\"xx\",\"note\":\"two\\nlines\"}\n\
{\"index\":\"4\",\"zip\":\"35233\",\"state\":\"al\",\"note\":\"empty city\"}\n";

fn findings(args: &[&str]) -> Vec<serde_json::Value> {
    let out = pff(args).output().unwrap();
    assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// Every finding of the table `csv` (rows named by `index`) checked as one graph with `rules`.
fn one_graph_findings(csv: &str, rules: &str) -> Vec<serde_json::Value> {
    findings(&[
        "validate",
        csv,
        "--rules",
        rules,
        "-f",
        "jsonl",
        "--id-key",
        "index",
        "--keep",
        "info",
        "--one-graph",
    ])
}

/// `pff validate t.csv` finds exactly what the same rows as JSON Lines give, row by row
/// (names from `--id-key`), and `pff triples` writes the same triples.
#[test]
fn a_table_checks_like_its_rows_as_json_lines() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", RULES.as_bytes());
    let csv = write(&dir, "t.csv", CSV.as_bytes());
    let jsonl = write(&dir, "t.jsonl", JSONL.as_bytes());
    for id in ["id", "index"] {
        let from = |data: &str| {
            let mut v = findings(&[
                "validate", data, "--rules", &rules, "-f", "jsonl", "--id-key", id, "--keep",
                "info",
            ]);
            for f in &mut v {
                f.as_object_mut().unwrap().remove("line");
            }
            v
        };
        let (a, b) = (from(&csv), from(&jsonl));
        assert!(!a.is_empty());
        assert_eq!(a, b, "--id-key {id}");
    }
    let names: Vec<String> = findings(&[
        "validate", &csv, "--rules", &rules, "-f", "jsonl", "--id-key", "index",
    ])
    .iter()
    .map(|f| f["record_name"].as_str().unwrap().to_string())
    .collect();
    assert!(
        names.contains(&"2".to_string()) && names.contains(&"4".to_string()),
        "{names:?}"
    );
    let triples = |data: &str| {
        let out = pff(&["triples", data, "--id-key", "index"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        out.stdout
    };
    assert_eq!(triples(&csv), triples(&jsonl));
    // The line of each row is its first line in the file (row 3's quoted line break counts).
    let out = pff(&["validate", &csv, "--rules", &rules, "-f", "json"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let lines: Vec<u64> = report["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [2, 3, 4, 6]);
}

/// A row with another number of cells fails alone, named by file and line; the others are
/// checked. A header without names fails the table.
#[test]
fn a_ragged_row_fails_alone_and_a_bad_header_fails_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", RULES.as_bytes());
    let csv = write(
        &dir,
        "t.csv",
        b"city,zip\nbirminghxm,35233\ndothan,36301,extra\nbirmingham,35233\n",
    );
    let out = pff(&["validate", &csv, "--rules", &rules, "-f", "json"])
        .assert()
        .code(2)
        .get_output()
        .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("t.csv:3: this row has 3 cells and the header 2 columns"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["records"].as_array().unwrap().len(), 3, "{report}");
    assert_eq!(report["summary"]["failed_records"], 1);
    let bad = write(&dir, "bad.csv", b"city,,zip\na,b,c\n");
    let err = stderr_of(&mut pff(&["validate", &bad, "--rules", &rules]), 2);
    assert!(
        err.contains("bad.csv:1: column 2 of the header has no name"),
        "{err}"
    );
}

/// Other delimiters: `--delimiter ';'`, and a tab-separated table (`.tsv` stays the triples
/// format: a table in TABs is `--input-format csv --delimiter tab`).
#[test]
fn delimiters_and_tab_separated_tables() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", RULES.as_bytes());
    let semi = write(&dir, "t.csv", b"city;zip\nbirminghxm;35233\n");
    let tabs = write(&dir, "t.tsv", b"city\tzip\nbirminghxm\t35233\n");
    let base = findings(&[
        "validate",
        &semi,
        "--rules",
        &rules,
        "-f",
        "jsonl",
        "--delimiter",
        ";",
    ]);
    assert!(!base.is_empty(), "{base:?}");
    let tabbed = findings(&[
        "validate",
        &tabs,
        "--rules",
        &rules,
        "-f",
        "jsonl",
        "--input-format",
        "csv",
        "--delimiter",
        "tab",
    ]);
    assert_eq!(base.len(), tabbed.len(), "{base:?}\n{tabbed:?}");
    let err = stderr_of(
        &mut pff(&["validate", &semi, "--rules", &rules, "--delimiter", "ab"]),
        2,
    );
    assert!(err.contains("not a delimiter"), "{err}");
}

/// `pff run` reads a `.csv` source as a table: a task of several records.
#[test]
fn a_run_reads_csv_sources() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "rules.txt", RULES.as_bytes());
    fs::write(dir.path().join("t.csv"), CSV).unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        "execution_id: t\nrules: rules.txt\nid_key: index\nfail_on: never\nreports: [jsonl]\ntasks:\n- msisdn: t.csv\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    pff(&[
        "run",
        m.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert()
    .code(0);
    let s: serde_json::Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(s["records"], 4, "{s}");
    let jsonl = read(&out.join("report.jsonl"));
    assert!(jsonl.contains("\"record_name\":\"2\""), "{jsonl}");
}

/// A rule through another row: a zip code's city is what other rows with that zip say.
const CROSS_ROW: &str = "10\t9\t0.9\tcity(X,Y) <= zip(X,A), zip(B,A), city(B,Y)\n";

/// Issue 24, item 4: a row whose value contradicts another row only through a shared value
/// (their zip code) is found when the file is checked as one graph, and not record by record;
/// the finding names the row and the cell, and the other rows keep their own findings.
#[test]
fn a_contradiction_through_another_row_is_found_as_one_graph_only() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", CROSS_ROW.as_bytes());
    let csv = write(
        &dir,
        "t.csv",
        b"index,zip,city\n1,35233,birmingham\n2,36301,dothan\n3,35233,birminghxm\n4,36301,\n",
    );
    let check = |extra: &[&str]| {
        let mut args = vec![
            "validate", &csv, "--rules", &rules, "-f", "jsonl", "--id-key", "index", "--keep",
            "info",
        ];
        args.extend_from_slice(extra);
        findings(&args)
    };
    assert_eq!(check(&[]), Vec::<serde_json::Value>::new());
    let found = check(&["--one-graph"]);
    let cells: Vec<(String, String, String)> = found
        .iter()
        .map(|f| {
            let m = &f["missing"];
            (
                f["record_name"].as_str().unwrap().to_string(),
                m["relation"].as_str().unwrap().to_string(),
                m["object"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let cell = |r: &str, o: &str| (r.to_string(), "city".to_string(), o.to_string());
    // Rows 1 and 3 contradict each other through zip 35233; row 4's empty city is dothan by
    // row 2. Row 2 is told nothing: row 4 says no city.
    assert_eq!(
        cells,
        [
            cell("1", "birminghxm"),
            cell("3", "birmingham"),
            cell("4", "dothan")
        ]
    );
    // Each finding's evidence is the other row.
    let evidence = &found[1]["rules"][0]["evidence"];
    assert_eq!(evidence[1]["subject"], "1", "{evidence}");
}

/// Under `--one-graph` a bad row still fails alone, and `pff run` with `one_graph: true`
/// gives the rows' reports `pff validate --one-graph` gives.
#[test]
fn one_graph_in_a_run_and_with_a_bad_row() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir, "rules.txt", CROSS_ROW.as_bytes());
    let rules = dir.path().join("rules.txt");
    let csv = write(
        &dir,
        "t.csv",
        b"index,zip,city\n1,35233,birmingham\n2,35233\n3,35233,birminghxm\n",
    );
    let out = pff(&[
        "validate",
        &csv,
        "--rules",
        rules.to_str().unwrap(),
        "-f",
        "jsonl",
        "--id-key",
        "index",
        "--one-graph",
        "--fail-on",
        "never",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2), "a bad row is an error: {out:?}");
    let v: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = v
        .iter()
        .map(|f| f["record_name"].as_str().unwrap_or("-"))
        .collect();
    assert_eq!(names, ["1", "-", "3"], "{v:?}");
    assert!(v[1]["error"].as_str().unwrap().contains("t.csv:3"), "{v:?}");
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        "execution_id: t\nrules: rules.txt\nid_key: index\none_graph: true\nfail_on: never\nreports: [jsonl]\ntasks:\n- msisdn: t.csv\n",
    )
    .unwrap();
    let out = dir.path().join("out");
    let m_s = m.to_str().unwrap();
    // The task with the bad row fails (exit 3), its other rows reported.
    pff(&["run", m_s, "-q", "-o", out.to_str().unwrap()])
        .assert()
        .code(3);
    let s: serde_json::Value = serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(s["records"], 3, "{s}");
    let jsonl = read(&out.join("report.jsonl"));
    let run_names: Vec<String> = jsonl
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|f| f["missing"].is_object())
        .map(|f| f["record_name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(run_names, ["1", "3"], "{jsonl}");
    assert!(
        read(&out.join("execution.json")).contains("one_graph"),
        "the execution records it"
    );
}

/// One row's odd value in a column every other row agrees on weighs one vote among all, and
/// each row's own value is one vote too: under `--one-graph` the odd row is told the common
/// value with five sixths of the rule's confidence (five peers against its own), and each
/// other row is told the odd value with a sixth of it (one peer against four and its own).
#[test]
fn one_odd_value_does_not_speak_for_every_other_row() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        &dir,
        "rules.txt",
        b"10\t9\t0.9\taddress_2(X,Y) <= address_3(X,A), address_3(B,A), address_2(B,Y)\n",
    );
    let mut csv = String::from("index,address_2,address_3\n");
    for i in 1..=6 {
        let v = if i == 4 { "mpty" } else { "empty" };
        csv.push_str(&format!("{i},{v},none\n"));
    }
    let csv = write(&dir, "t.csv", csv.as_bytes());
    let found = one_graph_findings(&csv, &rules);
    let scored: Vec<(String, String, f64)> = found
        .iter()
        .map(|f| {
            (
                f["record_name"].as_str().unwrap().to_string(),
                f["missing"]["object"].as_str().unwrap().to_string(),
                f["score"].as_f64().unwrap(),
            )
        })
        .collect();
    let (odd, others): (Vec<_>, Vec<_>) = scored.iter().partition(|f| f.0 == "4");
    assert_eq!(odd.len(), 1, "{scored:?}");
    assert_eq!(odd[0].1, "empty");
    assert!((odd[0].2 - 0.9 * 5.0 / 6.0).abs() < 1e-9, "{scored:?}");
    assert_eq!(others.len(), 5, "{scored:?}");
    // Each of the other rows: one vote of six for `mpty`.
    assert!(
        others
            .iter()
            .all(|f| f.1 == "mpty" && (f.2 - 0.9 / 6.0).abs() < 1e-9),
        "{scored:?}"
    );
}

/// Each value a rule copying peers' values predicts weighs that value's own votes: for a row
/// whose cell is empty where five peers say `a` and one says `b`, `a` weighs 5/6 of the rule's
/// confidence and `b` 1/6 (not the 5/6 of the rule's strongest value), so the slot adds up to
/// the rule's confidence, counted twice as an empty slot's evidence is: 1 - (1 - 0.6)^2.
#[test]
fn each_value_a_peer_rule_predicts_weighs_its_own_votes() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        &dir,
        "rules.txt",
        b"100\t60\t0.6\ttype(X,Y) <= name(X,A), name(B,A), type(B,Y)\n",
    );
    let mut csv = String::from("index,name,type\n");
    for (i, t) in ["a", "a", "a", "a", "a", "b", ""].iter().enumerate() {
        csv.push_str(&format!("{},n,{t}\n", i + 1));
    }
    let csv = write(&dir, "t.csv", csv.as_bytes());
    let found = one_graph_findings(&csv, &rules);
    let f = found
        .iter()
        .find(|f| f["record_name"] == "7")
        .unwrap_or_else(|| panic!("{found:#?}"));
    assert_eq!(f["missing"]["object"], "a", "{f:#}");
    let score = f["score"].as_f64().unwrap();
    assert!((score - (1.0 - 0.4 * 0.4)).abs() < 1e-9, "{f:#}");
    let weight = f["rules"][0]["weight"].as_f64().unwrap();
    assert!((weight - 0.5).abs() < 1e-9, "{f:#}");
}

/// Rows are checked a batch at a time (`check::rows::ROWS_AT_ONCE`): a file of several
/// batches gives every row its report, in order, with evidence from rows of other batches.
#[test]
fn one_graph_over_several_batches_of_rows() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", CROSS_ROW.as_bytes());
    let mut csv = String::from("index,zip,city\n");
    for i in 1..=150 {
        let city = if i == 150 { "birminghxm" } else { "birmingham" };
        let zip = if i == 1 || i == 150 { "35233" } else { "36301" };
        csv.push_str(&format!("{i},{zip},{city}\n"));
    }
    let csv = write(&dir, "t.csv", csv.as_bytes());
    let out = pff(&[
        "validate",
        &csv,
        "--rules",
        &rules,
        "-f",
        "json",
        "--id-key",
        "index",
        "--keep",
        "info",
        "--one-graph",
    ])
    .output()
    .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = v["records"].as_array().unwrap();
    assert_eq!(records.len(), 150);
    let names: Vec<&str> = records
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    let expected: Vec<String> = (1..=150).map(|i| i.to_string()).collect();
    assert_eq!(names, expected);
    let with: Vec<(&str, &str)> = records
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap())
        .map(|f| {
            (
                f["missing"]["subject"].as_str().unwrap(),
                f["missing"]["object"].as_str().unwrap(),
            )
        })
        .collect();
    // Rows 1 and 150 share zip 35233, in the first and third batch.
    assert_eq!(with, [("1", "birminghxm"), ("150", "birmingham")]);
}

/// `pff calibrate` checks clean records one at a time: rules checked as one graph are refused,
/// with what to do instead, rather than given cut points measured another way.
#[test]
fn calibrate_refuses_rules_checked_as_one_graph() {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(&dir, "rules.txt", CROSS_ROW.as_bytes());
    let csv = write(
        &dir,
        "t.csv",
        b"index,zip,city\n1,35233,birmingham\n2,35233,birmingham\n",
    );
    let err = stderr_of(
        &mut pff(&[
            "calibrate",
            &csv,
            "--rules",
            &rules,
            "--id-key",
            "index",
            "--one-graph",
        ]),
        2,
    );
    assert!(err.contains("--error-confidence"), "{err}");
    pff(&["calibrate", &csv, "--rules", &rules, "--id-key", "index"])
        .assert()
        .code(predicates::ord::ne(2));
}
