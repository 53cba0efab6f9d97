//! The real `pff` binary on the sample data and on bad input.

use std::fs;
use std::path::Path;

use assert_cmd::Command;
use predicates::prelude::*;
use tempfile::TempDir;

mod common;
use common::{pff, root, stderr_of, write};

fn stdout(cmd: &mut Command) -> String {
    String::from_utf8(cmd.output().expect("runs").stdout).expect("UTF-8 output")
}

const RECORDS: &str = "data/records.jsonl";
const RULES: &str = "data/rules.txt";

/// `pff validate` of the sample records and rules with `extra` flags: it exits 1 (the sample's
/// planted errors are found); its standard output.
fn sample_report(extra: &[&str]) -> String {
    let mut args = vec!["validate", RECORDS, "--rules", RULES];
    args.extend_from_slice(extra);
    let out = pff(&args).assert().code(1);
    String::from_utf8(out.get_output().stdout.clone()).expect("UTF-8 output")
}

// ---- output modes and exit codes ---------------------------------------------------------

#[test]
fn human_report_snapshot_and_exit_code_1() {
    insta::assert_snapshot!("human", sample_report(&["--top", "3"]));
}

#[test]
fn json_report_is_one_document_with_evidence() {
    let out = sample_report(&["--format", "json", "--keep", "info"]);
    let doc: serde_json::Value = serde_json::from_str(&out).expect("valid JSON");
    let records = doc["records"].as_array().unwrap();
    assert_eq!(records.len(), 12);
    let f = &records[1]["findings"][0];
    assert_eq!(f["severity"], "error");
    assert_eq!(f["focus"], "K1001PO0P0");
    assert_eq!(f["missing"]["relation"], "name");
    assert_eq!(f["missing"]["object"], "Plano Pós 25GB");
    let rule = &f["rules"][0];
    assert_eq!(rule["rule_id"], "data/rules.txt:13");
    assert_eq!(rule["bindings"]["X"], "K1001PO0P0");
    assert_eq!(rule["evidence"][0]["relation"], "productOfferingId");
    assert_eq!(rule["violations_on_record"], 1);
    // The flipped payment context of record 5: five rules agree on one missing triple, one
    // finding, ranked first.
    let f5 = &records[5]["findings"][0];
    assert_eq!(f5["missing"]["object"], "Postpaid");
    assert_eq!(f5["rule_count"], 5);
    assert_eq!(doc["summary"]["records"], 12);
    assert!(doc["summary"]["rule_health"]["applied"].as_u64().unwrap() > 0);
    insta::assert_snapshot!("json", out);
}

#[test]
fn jsonl_has_one_finding_per_line() {
    let mut cmd = pff(&[
        "validate", RECORDS, "--rules", RULES, "--format", "jsonl", "--keep", "info",
    ]);
    let out = stdout(&mut cmd);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    let doc: serde_json::Value =
        serde_json::from_str(&sample_report(&["--format", "json", "--keep", "info"])).unwrap();
    let findings = &doc["summary"]["findings"];
    let total: u64 = ["error", "warning", "info"]
        .iter()
        .map(|k| findings[k].as_u64().unwrap())
        .sum();
    assert_eq!(
        lines.len() as u64,
        total,
        "every finding of the sample, one per line"
    );
    for l in &lines {
        for key in [
            "record",
            "record_name",
            "severity",
            "score",
            "missing",
            "rules",
            "message",
        ] {
            assert!(l.get(key).is_some(), "missing {key} in {l}");
        }
        let r = &l["rules"][0];
        for key in ["rule_id", "rule", "confidence", "bindings", "evidence"] {
            assert!(r.get(key).is_some(), "missing rules[0].{key} in {l}");
        }
    }
}

#[test]
fn fail_on_levels_set_the_exit_code() {
    pff(&["validate", RECORDS, "--rules", RULES, "--fail-on", "never"])
        .assert()
        .code(0);
    // Only info-level rules: no error-level violation.
    pff(&[
        "validate",
        RECORDS,
        "--rules",
        RULES,
        "--fail-on",
        "error",
        "--error-confidence",
        "1",
        "--warning-confidence",
        "1",
    ])
    .assert()
    .code(0);
    pff(&["validate", RECORDS, "--rules", RULES, "--fail-on", "info"])
        .assert()
        .code(1);
}

#[test]
fn rule_stats_recomputed_on_training_data_equal_the_shipped_rules() {
    // data/rules.txt was made by exactly this command: pff must reproduce it byte for byte.
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("stats.txt");
    pff(&[
        "validate",
        "data/train.jsonl",
        "--rules",
        "data/rule-templates.txt",
        "--rule-stats",
        out.to_str().unwrap(),
        "--fail-on",
        "never",
    ])
    .assert()
    .code(0);
    assert_eq!(
        fs::read_to_string(&out).unwrap(),
        fs::read_to_string(root().join(RULES)).unwrap()
    );
}

#[test]
fn rule_stats_zero_when_nothing_applies() {
    let dir = TempDir::new().unwrap();
    let data = write(&dir, "r.json", br#"{"id":"a","x":"y"}"#);
    let rules = write(&dir, "rules", b"5\t4\t0.8\tq(X,c) <= p(X,A)\n");
    let out = dir.path().join("s");
    pff(&[
        "validate",
        &data,
        "--rules",
        &rules,
        "--rule-stats",
        out.to_str().unwrap(),
    ])
    .assert()
    .code(0);
    assert_eq!(
        fs::read_to_string(out).unwrap(),
        "0\t0\t0.0\tq(X,c) <= p(X,A)\n"
    );
}

#[test]
fn filters_select_rules() {
    let all = sample_report(&["--format", "json", "--keep", "info"]);
    let strong = sample_report(&["--format", "json", "--min-confidence", "0.9"]);
    let count = |s: &str| {
        let v: serde_json::Value = serde_json::from_str(s).unwrap();
        v["run"]["rule_count"].as_u64().unwrap()
    };
    assert_eq!(count(&all), 36);
    assert!(count(&strong) < 36);
    let short = sample_report(&[
        "--format",
        "json",
        "--max-body-len",
        "1",
        "--min-correct",
        "20",
    ]);
    assert!(count(&short) < count(&all));
}

#[test]
fn worker_count_does_not_change_reports() {
    let one = sample_report(&["--format", "json", "--max-workers", "1"]);
    let four = sample_report(&["--format", "json", "--max-workers", "4"]);
    assert_eq!(one, four);
}

#[test]
fn rules_filed_on_disk_do_not_change_reports() {
    let dir = TempDir::new().unwrap();
    let report = |extra: &[&str], stats: &str| {
        let stats = dir.path().join(stats);
        let mut args = vec!["validate", RECORDS, "--rules", RULES, "--format", "json"];
        args.extend_from_slice(&["--rule-stats", stats.to_str().unwrap()]);
        args.extend_from_slice(extra);
        (stdout(&mut pff(&args)), fs::read_to_string(&stats).unwrap())
    };
    let in_memory = report(&[], "a.txt");
    for batch in ["1", "7"] {
        let on_disk = report(&["--rule-batch", batch, "--max-workers", "2"], "b.txt");
        assert!(
            in_memory == on_disk,
            "--rule-batch {batch} changed the report"
        );
    }
    assert!(in_memory.0.contains("\"findings\""));
}

/// `--keep` changes what is written, never the counts: below the level a finding is listed
/// only among a record's strongest (without evidence), and SARIF has no result for it.
#[test]
fn keep_changes_what_is_written_but_never_the_counts() {
    let report = |keep: &str, format: &str| {
        let mut args = vec!["--format", format, "--keep", keep];
        if format == "json" {
            args.extend(["--max-violations", "all"]);
        }
        sample_report(&args)
    };
    let json = |keep| serde_json::from_str::<serde_json::Value>(&report(keep, "json")).unwrap();
    let (all, warn, err) = (json("info"), json("warning"), json("error"));
    assert_eq!(all["summary"], warn["summary"]);
    assert_eq!(all["summary"], err["summary"]);
    let mut evidence = [0, 0, 0];
    for (n, doc) in [&all, &warn, &err].into_iter().enumerate() {
        for (r, a) in doc["records"]
            .as_array()
            .unwrap()
            .iter()
            .zip(all["records"].as_array().unwrap())
        {
            assert_eq!(r["finding_counts"], a["finding_counts"]);
            assert_eq!(r["violations"], a["violations"]);
            assert_eq!(r["truncated"], a["truncated"]);
            for f in r["findings"].as_array().unwrap() {
                let with = !f["rules"].as_array().unwrap().is_empty();
                let level = f["severity"].as_str().unwrap();
                let at_keep = match n {
                    0 => true,
                    1 => level != "info",
                    _ => level == "error",
                };
                assert_eq!(with, at_keep, "keep #{n}: {f}");
                evidence[n] += usize::from(with);
            }
        }
    }
    assert!(
        evidence[0] > evidence[1] && evidence[1] >= evidence[2],
        "{evidence:?}"
    );
    let sarif = |keep| {
        let v: serde_json::Value = serde_json::from_str(&report(keep, "sarif")).unwrap();
        v["runs"][0]["results"].as_array().unwrap().len()
    };
    assert_eq!(sarif("info"), 51);
    assert_eq!(
        sarif("error"),
        all["summary"]["findings"]["error"].as_u64().unwrap() as usize
    );
}

#[test]
fn caps_mark_reports_truncated() {
    let out = sample_report(&[
        "--format",
        "json",
        "--keep",
        "info",
        "--max-violations",
        "1",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r0 = &v["records"][0];
    assert_eq!(r0["findings"].as_array().unwrap().len(), 1);
    assert_eq!(r0["truncated"], true);
    assert_eq!(r0["violations"]["info"], 6, "counts stay exact");
}

#[test]
fn triples_tsv_input_and_triples_export() {
    let dir = TempDir::new().unwrap();
    let tsv = dir.path().join("records.tsv");
    pff(&["triples", RECORDS, "-o", tsv.to_str().unwrap()])
        .assert()
        .success();
    let text = fs::read_to_string(&tsv).unwrap();
    assert_eq!(text.lines().count(), 812);
    assert!(text.lines().all(|l| l.split('\t').count() == 3));
    // The exported graph validates as one record.
    let out = stdout(&mut pff(&[
        "validate",
        tsv.to_str().unwrap(),
        "--rules",
        RULES,
        "--format",
        "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["records"][0]["triples"], 812);
}

#[test]
fn json_array_file_checks_each_record() {
    let dir = TempDir::new().unwrap();
    let data = write(
        &dir,
        "a.json",
        br#"[{"id":"K1","paymentContext":"Control"},{"id":"K2","paymentContext":"Control","contractSpecification":{"id":"SPEC_CTRL"}}]"#,
    );
    let out = stdout(&mut pff(&[
        "validate", &data, "--rules", RULES, "--format", "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    assert_eq!(
        v["records"][0]["findings"][0]["missing"]["object"],
        "SPEC_CTRL"
    );
    assert_eq!(v["records"][1]["violations"]["error"], 0);
}

// ---- bad input -----------------------------------------------------------------------------

fn fails_with(args: &[&str], needles: &[&str]) {
    let assert = pff(args).assert().code(2);
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    for n in needles {
        assert!(err.contains(n), "stderr lacks {n:?}:\n{err}");
    }
}

#[test]
fn malformed_and_truncated_rule_lines_are_all_reported() {
    let dir = TempDir::new().unwrap();
    let rules = write(
        &dir,
        "bad.rules",
        b"10\t5\t0.5\th(X,Y) <= b(X,Y)\n10\t5\t0.5\th(X,Y) <= b(X,\n10\t5\tzero\th(X,Y) <= b(X,Y)\n10\t5\n",
    );
    fails_with(
        &["validate", RECORDS, "--rules", &rules],
        &[
            "3 bad lines",
            "bad.rules:2:",
            "bad.rules:3:6: confidence `zero`",
            "bad.rules:2:21: the line ends inside an atom",
            "bad.rules:4:1",
        ],
    );
}

#[test]
fn bad_files_are_errors_naming_file_line_and_column() {
    let dir = TempDir::new().unwrap();
    // (data file, its bytes, a rules file's bytes or the sample rules, what stderr says)
    type Case<'a> = (&'a str, &'a [u8], Option<&'a [u8]>, &'a str);
    let cases: [Case<'_>; 3] = [
        (
            "bad.json",
            b"{\n  \"id\": \"a\",\n  \"x\": tru\n}\n",
            None,
            "bad.json:3:8: invalid JSON",
        ),
        (
            "g.tsv",
            b"a\tb\tc\na\tb\n",
            None,
            "g.tsv:2: expected 3 TAB-separated fields",
        ),
        (
            "ok.json",
            b"{\"id\":\"a\"}",
            Some(b"h(X,\xff) <= b(X,A)\n"),
            "u.rules:1:5: invalid UTF-8",
        ),
    ];
    for (name, data, rules, needle) in cases {
        let data = write(&dir, name, data);
        let rules = rules.map_or(RULES.to_string(), |r| write(&dir, "u.rules", r));
        fails_with(&["validate", &data, "--rules", &rules], &[needle]);
    }
}

#[test]
fn empty_rules_file_directory_and_missing_file() {
    let dir = TempDir::new().unwrap();
    let empty = write(&dir, "empty.rules", b"");
    fails_with(
        &["validate", RECORDS, "--rules", &empty],
        &["holds no rules"],
    );
    let d = dir.path().display().to_string();
    fails_with(
        &["validate", RECORDS, "--rules", &d],
        &["is a folder but not a rule set"],
    );
    fails_with(
        &["validate", RECORDS, "--rules", "no/such/rules"],
        &["no/such/rules", "No such file"],
    );
    fails_with(
        &["validate", "no/such.json", "--rules", RULES],
        &["cannot read no/such.json"],
    );
}

#[test]
fn a_bad_jsonl_record_fails_alone() {
    let dir = TempDir::new().unwrap();
    let good = r#"{"id":"K1","paymentContext":"Control"}"#;
    let data = write(
        &dir,
        "mixed.jsonl",
        format!("{good}\n{{\"id\": oops}}\n\n[1]\n{good}\n").as_bytes(),
    );
    let assert = pff(&["validate", &data, "--rules", RULES, "--format", "json"])
        .assert()
        .code(2);
    let out = String::from_utf8(assert.get_output().stdout.clone()).unwrap();
    let err = String::from_utf8(assert.get_output().stderr.clone()).unwrap();
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 4, "the good records are still checked");
    assert!(
        recs[1]["error"]
            .as_str()
            .unwrap()
            .contains("mixed.jsonl:2:8: invalid JSON")
    );
    assert!(
        recs[2]["error"]
            .as_str()
            .unwrap()
            .contains("record 2 is an array")
    );
    assert_eq!(recs[3]["index"], 3);
    assert_eq!(recs[3]["line"], 5);
    assert_eq!(recs[3]["findings"][0]["missing"]["object"], "SPEC_CTRL");
    assert!(err.contains("mixed.jsonl:2:8"), "{err}");
}

#[test]
fn unknown_extension_and_bad_usage() {
    fails_with(
        &["validate", "Cargo.toml", "--rules", RULES],
        &["--input-format"],
    );
    pff(&["validate", RECORDS])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--rules"));
    fails_with(
        &["validate", RECORDS, "--rules", RULES, "--max-workers", "0"],
        &["at least 1"],
    );
    pff(&["--version"]).assert().code(0);
}

#[test]
fn input_format_override() {
    let dir = TempDir::new().unwrap();
    let data = write(
        &dir,
        "records.data",
        br#"{"id":"K1","paymentContext":"Control"}"#,
    );
    pff(&[
        "validate",
        &data,
        "--rules",
        RULES,
        "--input-format",
        "json",
    ])
    .assert()
    .code(1);
    assert!(Path::new(&data).exists());
}

// ---- report formats --------------------------------------------------------------------------

#[test]
fn markdown_report_snapshot() {
    insta::assert_snapshot!(
        "markdown",
        sample_report(&["--format", "markdown", "--keep", "info", "--top", "2"])
    );
}

#[test]
fn junit_report_parses_with_the_required_elements() {
    let out = sample_report(&["--format", "junit", "--keep", "info"]);
    let doc = roxmltree::Document::parse(&out).expect("well-formed XML");
    let root = doc.root_element();
    assert_eq!(root.tag_name().name(), "testsuites");
    let suite = root
        .children()
        .find(|n| n.has_tag_name("testsuite"))
        .expect("a testsuite");
    for attr in ["name", "tests", "failures", "errors"] {
        assert!(suite.attribute(attr).is_some(), "testsuite lacks {attr}");
    }
    let cases: Vec<_> = suite
        .children()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 12, "one test case per record");
    assert!(
        cases
            .iter()
            .all(|c| c.attribute("name").is_some() && c.attribute("classname").is_some())
    );
    let failures: usize = cases
        .iter()
        .map(|c| c.children().filter(|n| n.has_tag_name("failure")).count())
        .sum();
    // Error-level findings fail (default --fail-on error): 5 in the sample.
    assert_eq!(failures, 5);
    assert_eq!(
        suite.attribute("failures"),
        Some("5"),
        "records with a failure"
    );
    for f in cases
        .iter()
        .flat_map(|c| c.children().filter(|n| n.has_tag_name("failure")))
    {
        assert!(f.attribute("message").is_some_and(|m| !m.is_empty()));
    }
    insta::assert_snapshot!("junit", out);
}

#[test]
fn sarif_report_has_what_viewers_need() {
    let out = sample_report(&["--format", "sarif", "--keep", "info"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    assert_eq!(run["tool"]["driver"]["name"], "pff");
    let rules = run["tool"]["driver"]["rules"].as_array().unwrap();
    assert!(!rules.is_empty());
    let ids: Vec<&str> = rules.iter().map(|r| r["id"].as_str().unwrap()).collect();
    let results = run["results"].as_array().unwrap();
    assert_eq!(results.len(), 51, "one result per finding");
    for r in results {
        assert!(
            ids.contains(&r["ruleId"].as_str().unwrap()),
            "ruleId in driver.rules"
        );
        assert!(["error", "warning", "note"].contains(&r["level"].as_str().unwrap()));
        assert!(!r["message"]["text"].as_str().unwrap().is_empty());
        let loc = &r["locations"][0]["physicalLocation"];
        assert_eq!(loc["artifactLocation"]["uri"], "data/rules.txt");
        assert!(loc["region"]["startLine"].as_u64().unwrap() >= 1);
    }
    insta::assert_snapshot!("sarif", out);
}

#[test]
fn every_format_is_identical_whatever_the_worker_count() {
    for format in ["human", "json", "jsonl", "markdown", "junit", "sarif"] {
        let run = |w: &str| sample_report(&["--format", format, "--max-workers", w]);
        assert_eq!(run("1"), run("4"), "{format}");
    }
}

#[test]
fn no_color_when_not_a_terminal() {
    let out = stdout(&mut pff(&["validate", RECORDS, "--rules", RULES]));
    assert!(!out.contains('\x1b'), "no escape codes in piped output");
}

#[test]
fn rules_stats_summarises_a_rules_file() {
    let out = stdout(&mut pff(&["rules", "stats", RULES]));
    assert!(out.starts_with("data/rules.txt: 36 rules\n"), "{out}");
    assert!(out.contains("zero"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&mut pff(&["rules", "stats", RULES, "--json"]))).unwrap();
    assert_eq!(json["rules"], 36);
    assert_eq!(json["by_shape"]["zero"], 1);
    assert_eq!(json["by_shape"]["cyclic"], 3);
    let hist: u64 = json["confidence_histogram"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(hist, 36);
    pff(&["rules", "stats", "no/such"]).assert().code(2);
}

#[test]
fn several_rules_files_keep_their_own_ids() {
    let dir = TempDir::new().unwrap();
    let extra = write(
        &dir,
        "extra.rules",
        b"1\t1\t0.99\tstatus(X,CustomerActive) <= externalId(X,A)\n",
    );
    let out = sample_report(&["--rules", &extra, "--format", "json", "--keep", "info"]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["run"]["rule_count"], 37);
    let ids: Vec<String> = v["records"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|r| r["findings"].as_array().unwrap().clone())
        .flat_map(|f| f["rules"].as_array().unwrap().clone())
        .map(|r| r["rule_id"].as_str().unwrap().to_string())
        .collect();
    assert!(ids.iter().any(|i| i.starts_with("data/rules.txt:")));
    assert!(ids.iter().any(|i| i == &format!("{extra}:1")), "{ids:?}");
}

#[test]
fn jsonl_report_snapshot() {
    let out = sample_report(&[
        "--format",
        "jsonl",
        "--keep",
        "info",
        "--max-violations",
        "2",
    ]);
    insta::assert_snapshot!("jsonl", out);
}

// ---- pathological rules ----------------------------------------------------------------------

/// A hub with `n` edges each way: length-3 cyclic rules over it explode.
fn hub_graph(dir: &TempDir, n: usize) -> String {
    let mut g = String::with_capacity(n * 30);
    for i in 0..n {
        g.push_str(&format!("hub\tr\te{i}\ne{i}\tr\thub\n"));
    }
    g.push_str("x\tkind\tthing\n");
    write(dir, "hub.tsv", g.as_bytes())
}

#[test]
fn an_exploding_rule_is_cut_short_and_reported_the_rest_goes_on() {
    let dir = TempDir::new().unwrap();
    let data = hub_graph(&dir, 100_000);
    let rules = write(
        &dir,
        "p.rules",
        b"9\t9\t0.9\tq(X,Y) <= r(X,A), r(A,B), r(B,Y)\n9\t9\t0.95\tlabel(X,ok) <= kind(X,thing)\n",
    );
    let out = stdout(&mut pff(&[
        "validate",
        &data,
        "--rules",
        &rules,
        "--format",
        "json",
        "--max-rule-work",
        "200000",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let r = &v["records"][0];
    assert_eq!(r["rules"]["truncated"], 1, "{}", r["rules"]);
    // The ordinary rule was still checked.
    let missing: Vec<_> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["missing"]["relation"].clone())
        .collect();
    assert!(missing.contains(&serde_json::json!("label")), "{missing:?}");
    let human = stdout(&mut pff(&[
        "validate",
        &data,
        "--rules",
        &rules,
        "--max-rule-work",
        "200000",
    ]));
    assert!(human.contains("INCOMPLETE: 1 rules cut short"), "{human}");
}

#[test]
fn a_time_budget_skips_what_it_cannot_reach_and_says_so() {
    let dir = TempDir::new().unwrap();
    let data = hub_graph(&dir, 50_000);
    let mut rules = String::new();
    for i in 0..20 {
        rules.push_str(&format!("9\t9\t0.9\tq{i}(X,Y) <= r(X,A), r(A,B), r(B,Y)\n"));
    }
    let rules = write(&dir, "p.rules", rules.as_bytes());
    let out = stdout(&mut pff(&[
        "validate",
        &data,
        "--rules",
        &rules,
        "--format",
        "json",
        "--time-budget",
        "0.05",
        "--max-workers",
        "1",
    ]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let c = &v["records"][0]["rules"];
    let cut = c["truncated"].as_u64().unwrap() + c["skipped"].as_u64().unwrap();
    assert!(cut >= 19, "{c}");
}

#[test]
fn id_key_names_nodes_by_another_key() {
    let dir = TempDir::new().unwrap();
    let data = write(
        &dir,
        "k.json",
        br#"{"uuid":"U1","id":"x","contract":[{"uuid":"K1","paymentContext":"Control"}]}"#,
    );
    let out = stdout(&mut pff(&["triples", &data, "--id-key", "uuid"]));
    assert_eq!(
        out,
        "U1\tid\tx\nU1\tcontract\tK1\nK1\tpaymentContext\tControl\n"
    );
    let report = stdout(&mut pff(&[
        "validate", &data, "--rules", RULES, "--id-key", "uuid", "--format", "json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(v["records"][0]["name"], "U1");
    assert_eq!(v["records"][0]["findings"][0]["focus"], "K1");
}

/// `pff calibrate` derives cut points from clean records: lines a manifest takes, warning at
/// most error, the same on every run, and tighter targets give higher cuts.
#[test]
fn calibrate_derives_cut_points_from_clean_records() {
    let cuts = |extra: &[&str]| {
        let mut args = vec!["calibrate", "data/train.jsonl", "--rules", RULES];
        args.extend_from_slice(extra);
        let out = pff(&args).assert().code(0);
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let value = |key: &str| -> f64 {
            text.lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {text}"))
                .trim()
                .parse()
                .unwrap()
        };
        assert!(text.contains("60 clean records"), "{text}");
        (
            value("error_confidence:"),
            value("warning_confidence:"),
            text,
        )
    };
    let (e, w, text) = cuts(&[]);
    assert!((0.0..=1.0).contains(&e) && w <= e, "{text}");
    assert_eq!(cuts(&[]).2, text, "deterministic");
    let (strict, _, _) = cuts(&["--errors", "0"]);
    assert!(
        strict >= e,
        "fewer errors allowed, a higher cut: {strict} vs {e}"
    );
    // The printed lines are manifest keys.
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("r.json"), "{\"id\":\"K\"}").unwrap();
    let m = dir.path().join("m.yaml");
    let yaml: String = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| format!("{l}\n"))
        .collect();
    fs::write(
        &m,
        format!("execution_id: x\n{yaml}tasks:\n- msisdn: r.json\n"),
    )
    .unwrap();
    pff(&["run", m.to_str().unwrap(), "--rules", RULES, "--dry-run"])
        .assert()
        .code(0);
}

/// Daily use: a folder gets a hint to `pff run`, `-` reads standard input (JSON Lines unless
/// `--input-format` says otherwise), a closed pipe ends quietly, exit 1 says why.
#[test]
fn folders_stdin_closed_pipes_and_the_reason_for_exit_1() {
    let err = stderr_of(&mut pff(&["validate", "data", "--rules", RULES]), 2);
    assert!(
        err.contains("data is a directory") && err.contains("pff run"),
        "{err}"
    );
    let two: String = fs::read_to_string(root().join(RECORDS))
        .unwrap()
        .lines()
        .take(2)
        .map(|l| format!("{l}\n"))
        .collect();
    let out = pff(&["validate", "-", "--rules", RULES, "--format", "json"])
        .write_stdin(two)
        .assert()
        .code(1);
    let v: serde_json::Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["records"].as_array().unwrap().len(), 2);
    assert_eq!(v["run"]["data"], "-");
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("1 error findings; --fail-on error"), "{err}");
    // `pff validate ... | head -1`: the reader closes the pipe (250 KB of output, far more than
    // a pipe holds); pff stops quietly with 0.
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let out = std::process::Command::new("bash")
        .arg("-c")
        .arg(format!(
            "{} validate data/train.jsonl --rules {RULES} --format jsonl --keep info \
             --fail-on never | head -1 >/dev/null; exit ${{PIPESTATUS[0]}}",
            bin.display()
        ))
        .current_dir(root())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("Broken pipe"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

/// Completions and the manual page come from the command definitions; `--version` names the
/// commit.
#[test]
fn completions_man_page_and_version() {
    let stdout = |args: &[&str]| {
        let out = pff(args).assert().code(0);
        String::from_utf8(out.get_output().stdout.clone()).unwrap()
    };
    let v = stdout(&["--version"]);
    assert!(v.starts_with("pff ") && v.contains("(commit "), "{v}");
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let script = stdout(&["completions", shell]);
        for word in ["validate", "run", "merge", "calibrate", "keep"] {
            assert!(script.contains(word), "{shell} completions lack {word}");
        }
    }
    let man = stdout(&["man"]);
    assert!(
        man.contains(".TH pff 1") && man.contains(".SH NAME"),
        "{man}"
    );
    for word in ["validate", "calibrate", "completions"] {
        assert!(man.contains(word), "the man page lacks {word}");
    }
    // Every page pff(1) points to exists: `pff man CMD`, and all of them with --dir.
    let page = stdout(&["man", "rules", "stats"]);
    assert!(page.contains(".TH pff-rules-stats 1"), "{page}");
    let dir = TempDir::new().unwrap();
    let pages = dir.path().join("man");
    pff(&["man", "--dir", pages.to_str().unwrap()])
        .assert()
        .code(0);
    let referenced: Vec<String> = man
        .split("pff\\-")
        .skip(1)
        .filter_map(|rest| rest.split_once("(1)"))
        .map(|(name, _)| format!("pff-{}.1", name.replace("\\-", "-")))
        .collect();
    assert!(
        referenced.iter().any(|p| p == "pff-validate.1"),
        "{referenced:?}"
    );
    for p in &referenced {
        assert!(pages.join(p).is_file(), "{p} is referenced but not written");
    }
    let before = fs::read(pages.join("pff-validate.1")).unwrap();
    fs::write(pages.join("pff-run.1"), "mine").unwrap();
    pff(&["man", "--dir", pages.to_str().unwrap()])
        .assert()
        .code(2);
    assert_eq!(fs::read_to_string(pages.join("pff-run.1")).unwrap(), "mine");
    assert_eq!(fs::read(pages.join("pff-validate.1")).unwrap(), before);
    pff(&["man", "nope"]).assert().code(2);
    pff(&["completions", "tcsh"]).assert().code(2);
}

/// A rules file reformatted with spaces is refused at its first such line; a plain list of
/// rules (no counts) is accepted with a warning that says what was assumed.
#[test]
fn spaces_instead_of_tabs_are_refused_and_bare_rules_are_announced() {
    let dir = TempDir::new().unwrap();
    let spaced = write(
        &dir,
        "spaced.rules",
        b"55\t53\t0.96\tname(X,a) <= b(X,c)\n55 53 0.96 name(X,a) <= b(X,c)\n",
    );
    let err = stderr_of(&mut pff(&["validate", RECORDS, "--rules", &spaced]), 2);
    assert!(
        err.contains("spaced.rules:2:3: the counts are separated by spaces"),
        "{err}"
    );
    let out = pff(&["validate", RECORDS, "--rules", "data/rule-templates.txt"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("36 rules of data/rule-templates.txt have no counts")
            && err.contains("confidence 1.0"),
        "{err}"
    );
    let quiet = pff(&["validate", RECORDS, "--rules", RULES])
        .assert()
        .code(1);
    assert!(!String::from_utf8_lossy(&quiet.get_output().stderr).contains("no counts"));
}

/// Fail thresholds: exit 1 only when more than N records (or more than a share of them) have
/// a finding at the --fail-on level; `pff run` takes them too (flags or manifest keys).
#[test]
fn fail_thresholds_count_records() {
    let summary: serde_json::Value = serde_json::from_str(&sample_report(&["--format", "json"]))
        .map(|v: serde_json::Value| v["summary"].clone())
        .unwrap();
    let failing = summary["records_by_severity"]["error"].as_u64().unwrap();
    assert!(failing > 1, "{summary}");
    let code = |extra: &[&str]| {
        let mut args = vec!["validate", RECORDS, "--rules", RULES];
        args.extend_from_slice(extra);
        pff(&args).output().unwrap().status.code()
    };
    let below = (failing - 1).to_string();
    let at = failing.to_string();
    assert_eq!(code(&["--fail-on-count", &below]), Some(1));
    assert_eq!(code(&["--fail-on-count", &at]), Some(0));
    // 12 sample records: a share just below the failing one fails, the same share does not.
    let share = failing as f64 / 12.0;
    assert_eq!(
        code(&["--fail-on-ratio", &format!("{:.3}", share - 0.01)]),
        Some(1)
    );
    assert_eq!(
        code(&["--fail-on-ratio", &format!("{:.3}", share + 0.001)]),
        Some(0)
    );
    assert_eq!(code(&["--fail-on-ratio", "1.5"]), Some(2));
    let dir = TempDir::new().unwrap();
    let o = dir.path().join("o");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            "manifests/smoke.yaml",
            "-q",
            "-o",
            o.to_str().unwrap(),
            "--fresh",
        ];
        args.extend_from_slice(extra);
        pff(&args).output().unwrap().status.code()
    };
    assert_eq!(run(&[]), Some(1));
    assert_eq!(run(&["--fail-on-count", "12"]), Some(0));
    assert_eq!(run(&["--fail-on-ratio", "0.99"]), Some(0));
}

/// The xlsx report is a real workbook: read back, it has the predecessor's results sheet (a row
/// per record) and a findings sheet; `pff run` writes it as `report.xlsx`.
#[test]
fn xlsx_reports_read_back_as_workbooks() {
    use calamine::{Reader, open_workbook_auto};
    let dir = TempDir::new().unwrap();
    let write = |to: &Path| {
        let args = [
            "validate", RECORDS, "--rules", RULES, "--format", "xlsx", "--keep", "info", "-o",
        ];
        let mut cmd = pff(&args);
        cmd.arg(to).assert().code(1);
    };
    let path = dir.path().join("r.xlsx");
    write(&path);
    let mut book = open_workbook_auto(&path).expect("a workbook");
    assert_eq!(book.sheet_names(), vec!["Resultados", "Findings"]);
    let results = book.worksheet_range("Resultados").unwrap();
    let rows: Vec<Vec<String>> = results
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["MSISDN", "Solicitação", "Resultado", "Observações"]
    );
    assert_eq!(rows.len(), 13, "a header and a row per record");
    assert_eq!(rows[6][0], "CUST1005");
    assert_eq!(rows[6][2], "ERRORS");
    assert_eq!(rows[1][2], "OK", "only info findings: OK");
    let findings = book.worksheet_range("Findings").unwrap();
    assert_eq!(findings.rows().count(), 52, "a header and the 51 findings");
    let first: Vec<String> = findings
        .rows()
        .nth(1)
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(first[0], "CUST1000");
    assert!(
        first[3] == "conflict" || first[3] == "empty slot",
        "{first:?}"
    );
    let out = dir.path().join("o");
    pff(&[
        "run",
        "manifests/smoke.yaml",
        "-q",
        "--format",
        "xlsx",
        "-o",
        out.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    // The same inputs give the same bytes (no creation time inside).
    let again = dir.path().join("again.xlsx");
    write(&again);
    assert!(fs::read(&path).unwrap() == fs::read(&again).unwrap());
    let mut run_book = open_workbook_auto(out.join("report.xlsx")).expect("a workbook");
    assert_eq!(
        run_book
            .worksheet_range("Resultados")
            .unwrap()
            .rows()
            .count(),
        13
    );
}

/// The severity defaults in `--help` are the ones the code uses (one source: `defaults`).
#[test]
fn help_shows_the_default_cut_points() {
    let help = stdout(&mut pff(&["validate", "--help"]));
    for d in [
        pff::defaults::ERROR_CONFIDENCE,
        pff::defaults::WARNING_CONFIDENCE,
    ] {
        assert!(help.contains(&format!("else {d}]")), "{d}: {help}");
    }
}
