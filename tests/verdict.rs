//! Never a false OK: the exit code, the closing line, `summary.json`, `results.csv` and every
//! report agree with what was really checked (failed tasks, rules cut short, tasks left
//! without a result).

mod common;

use std::fs;
use std::path::Path;

use common::{manifest, named, pff, pff_run, read, sample_records, stderr_of};

const ALL_REPORTS: &str = "reports: [human, json, jsonl, markdown, junit, sarif, xlsx]\n";

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&read(&out.join("summary.json"))).unwrap()
}

/// The rows of the xlsx results sheet, as text.
fn xlsx_rows(path: &Path) -> Vec<Vec<String>> {
    use calamine::{Reader, Xlsx, open_workbook};
    let mut wb: Xlsx<_> = open_workbook(path).unwrap();
    let name = wb.sheet_names()[0].clone();
    let range = wb.worksheet_range(&name).unwrap();
    range
        .rows()
        .map(|r| r.iter().map(|c| c.to_string()).collect())
        .collect()
}

/// Every task fails (a record that is not JSON, a source that is missing): exit 3, and every
/// format names each failed task and why.
#[test]
fn failed_tasks_are_in_every_report() {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[("a.json", "{not json"), ("b.json", "[1, 2")],
        ALL_REPORTS,
    );
    let out = dir.path().join("out");
    stderr_of(&mut pff_run(&m, &out, &[]), 3);
    let s = summary(&out);
    assert_eq!(s["verdict"], "failed", "{s}");
    assert_eq!(s["tasks_failed"], 2);
    let junit = read(&out.join("junit.xml"));
    assert!(
        junit.contains("tests=\"2\" failures=\"0\" errors=\"2\""),
        "{junit}"
    );
    assert!(
        junit.contains("a.json") && junit.contains("b.json"),
        "{junit}"
    );
    let json: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    assert_eq!(json["summary"]["failed"], true, "{json}");
    assert_eq!(json["summary"]["verdict"], "failed");
    assert_eq!(json["summary"]["failed_records"], 2);
    let jsonl = read(&out.join("report.jsonl"));
    assert_eq!(jsonl.lines().count(), 2, "{jsonl}");
    for (line, task) in jsonl.lines().zip(["a.json", "b.json"]) {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["task"], task, "{line}");
        assert!(v["error"].as_str().is_some_and(|e| !e.is_empty()), "{line}");
    }
    let md = read(&out.join("report.md"));
    assert!(md.contains("**Failed:** 2 records"), "{md}");
    assert_eq!(md.matches("**failed**").count(), 2, "{md}");
    let txt = read(&out.join("report.txt"));
    // Each task, the totals line and the verdict.
    assert_eq!(txt.matches("FAILED").count(), 4, "{txt}");
    let sarif: serde_json::Value = serde_json::from_str(&read(&out.join("report.sarif"))).unwrap();
    let inv = &sarif["runs"][0]["invocations"][0];
    assert_eq!(inv["executionSuccessful"], false, "{inv}");
    assert_eq!(
        inv["toolExecutionNotifications"].as_array().unwrap().len(),
        2
    );
    let rows = xlsx_rows(&out.join("report.xlsx"));
    let failed: Vec<_> = rows
        .iter()
        .filter(|r| r.iter().any(|c| c == "FAILED"))
        .collect();
    assert_eq!(failed.len(), 2, "{rows:?}");
}

/// `max_rule_work: 0` cuts every rule short: nothing reads OK, every format says how many
/// rules were not checked, and the run exits 4.
#[test]
fn rules_cut_short_are_never_ok() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(
        dir.path(),
        &named(&recs[..3]),
        &format!("max_rule_work: 0\nfail_on: never\n{ALL_REPORTS}"),
    );
    let out = dir.path().join("out");
    let mut cmd = pff(&["run", m.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = stderr_of(&mut cmd, 4);
    assert!(err.contains("3 record(s) not fully checked"), "{err}");
    let s = summary(&out);
    assert_eq!(s["verdict"], "incomplete", "{s}");
    assert_eq!(s["cut_short"]["records"], 3);
    let csv = read(&out.join("results.csv"));
    assert_eq!(csv.matches(",INCOMPLETE,").count(), 3, "{csv}");
    assert!(!csv.contains(",OK,"), "{csv}");
    let junit = read(&out.join("junit.xml"));
    assert!(junit.contains("errors=\"3\""), "{junit}");
    assert_eq!(junit.matches("type=\"incomplete\"").count(), 3, "{junit}");
    let jsonl = read(&out.join("report.jsonl"));
    assert_eq!(jsonl.matches("\"incomplete\":true").count(), 3, "{jsonl}");
    let md = read(&out.join("report.md"));
    assert!(md.contains("**Incomplete:** 3 records"), "{md}");
    let txt = read(&out.join("report.txt"));
    assert!(txt.contains("verdict: INCOMPLETE"), "{txt}");
    let sarif: serde_json::Value = serde_json::from_str(&read(&out.join("report.sarif"))).unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        false
    );
    let rows = xlsx_rows(&out.join("report.xlsx"));
    assert_eq!(
        rows.iter()
            .filter(|r| r.iter().any(|c| c == "INCOMPLETE"))
            .count(),
        3,
        "{rows:?}"
    );
}

/// `pff validate --max-rule-work 0`: exit 4 and the closing line says so, in every format.
#[test]
fn validate_with_rules_cut_short_exits_4() {
    for format in ["human", "json", "jsonl", "markdown", "junit", "sarif"] {
        let mut cmd = pff(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            "data/rules.txt",
            "--max-rule-work",
            "0",
            "--fail-on",
            "never",
            "-f",
            format,
        ]);
        let a = cmd.assert().code(4);
        let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
        assert!(err.contains("not fully checked"), "{format}: {err}");
        let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
        assert!(out.to_lowercase().contains("incomplete"), "{format}: {out}");
    }
}

/// Two tasks whose records have no `id`: report.jsonl tells them apart by task key.
#[test]
fn report_jsonl_names_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let rec = r#"{"name": "x", "status": "odd"}"#;
    let m = manifest(
        dir.path(),
        &[("t1.json", "{not json"), ("t2.json", rec)],
        "reports: [jsonl]\nfail_on: never\n",
    );
    let out = dir.path().join("out");
    pff_run(&m, &out, &[]).assert().code(3);
    let jsonl = read(&out.join("report.jsonl"));
    let first: serde_json::Value = serde_json::from_str(jsonl.lines().next().unwrap()).unwrap();
    assert_eq!(first["task"], "t1.json", "{jsonl}");
}

/// A task file that cannot be read back at the end is an error naming it (exit 2), not a task
/// silently counted "not done".
#[test]
fn an_unreadable_task_file_at_the_end_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(
        dir.path(),
        &named(&recs[..2]),
        "fail_on: never\nreports: [json]\n",
    );
    let out = dir.path().join("out");
    pff_run(&m, &out, &[]).assert().code(0);
    // Garble one result; --resume moves a bad file aside and reruns it, so garble it in a way
    // only the final pass sees: a task file with a field of the wrong type after a good head.
    let tasks: Vec<_> = fs::read_dir(out.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    let text = read(&tasks[0]);
    let bad = text.replacen("\"records\":[", "\"records\":[7,", 1);
    fs::write(&tasks[0], bad).unwrap();
    let mut cmd = pff_run(&m, &out, &["--resume"]);
    let err = stderr_of(&mut cmd, 2);
    assert!(
        err.contains(&tasks[0].file_name().unwrap().to_string_lossy().into_owned())
            && err.contains("cannot be read back"),
        "{err}"
    );
}

/// `fail_on_ratio` with tasks of several records: the exit code and every summary judge the
/// same unit (records).
#[test]
fn one_verdict_for_multi_record_tasks() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    // Task a: 3 records, task b: 1 record (JSON Lines files).
    let lines = |rs: &[(String, String)]| -> String {
        rs.iter()
            .map(|(_, c)| {
                let v: serde_json::Value = serde_json::from_str(c).unwrap();
                format!("{v}\n")
            })
            .collect()
    };
    let a = lines(&recs[..3]);
    let b = lines(&recs[3..4]);
    let m = manifest(
        dir.path(),
        &[("a.jsonl", &a), ("b.jsonl", &b)],
        "fail_on: warning\nfail_on_ratio: 0.5\nreports: [json]\n",
    );
    let out = dir.path().join("out");
    let code = pff_run(&m, &out, &[])
        .output()
        .unwrap()
        .status
        .code()
        .unwrap();
    let s = summary(&out);
    let report: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    assert_eq!(s["records"], 4, "{s}");
    assert_eq!(report["summary"]["records"], 4);
    assert_eq!(s["verdict"], report["summary"]["verdict"], "{s}");
    let expected = if s["verdict"] == "findings" { 1 } else { 0 };
    assert_eq!(code, expected, "{s}");
}

/// A baseline that is the output folder itself is refused (with `--fresh` it would be
/// discarded before it was read); a baseline task file that cannot be read is named.
#[test]
fn baselines_are_never_the_run_itself_and_never_skipped_silently() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(dir.path(), &named(&recs[..3]), "fail_on: never\n");
    let out = dir.path().join("out");
    pff_run(&m, &out, &[]).assert().code(0);
    let o = out.to_str().unwrap();
    for extra in [
        &["--fresh", "--baseline", o][..],
        &["--resume", "--baseline", o][..],
    ] {
        let err = stderr_of(&mut pff_run(&m, &out, extra), 2);
        assert!(err.contains("own output folder"), "{extra:?}: {err}");
    }
    // Garble one task file of the baseline: its findings count as new, and pff says so.
    let task = fs::read_dir(out.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .min()
        .unwrap();
    fs::write(&task, "{\"pff_task\":2,").unwrap();
    let tonight = dir.path().join("tonight");
    let mut cmd = pff(&[
        "run",
        m.to_str().unwrap(),
        "-o",
        tonight.to_str().unwrap(),
        "--baseline",
        o,
    ]);
    let err = stderr_of(&mut cmd, 0);
    let name = task.file_name().unwrap().to_string_lossy().into_owned();
    assert!(err.contains(&name) && err.contains("count as new"), "{err}");
    assert!(read(&tonight.join("events.jsonl")).contains("baseline_file_skipped"));
}

/// What a generated task holds.
#[derive(Debug, Clone)]
enum Kind {
    /// A record no rule applies to: checked, nothing to find.
    Clean,
    /// One of the sample records (some have planted errors).
    Sample(usize),
    /// Not JSON: the task fails.
    Broken,
    /// A JSON array: a clean record and a sample record in one task.
    Pair(usize),
}

/// The per-record results `results.csv` gives, in order.
fn csv_results(out: &Path) -> Vec<String> {
    read(&out.join("results.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap_or("").to_string())
        .collect()
}

/// The task keys of `results.csv`'s rows, in order.
fn csv_keys(out: &Path) -> Vec<String> {
    read(&out.join("results.csv"))
        .lines()
        .skip(1)
        .map(|l| l.split(',').next().unwrap_or("").to_string())
        .collect()
}

/// Runs a generated mix and checks that the exit code, `summary.json`, `results.csv` and every
/// report format tell the same story.
fn check_mix(kinds: &[Kind], work: Option<u64>, fail_on: &str) {
    let samples = sample_records();
    let dir = tempfile::tempdir().unwrap();
    let files: Vec<(String, String)> = kinds
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let body = match k {
                Kind::Clean => format!(r#"{{"id":"Z{i}","note":"nothing"}}"#),
                Kind::Sample(s) => samples[s % samples.len()].1.clone(),
                Kind::Broken => "{not json".to_string(),
                Kind::Pair(s) => format!(
                    r#"[{{"id":"Z{i}","note":"nothing"}}, {}]"#,
                    samples[s % samples.len()].1
                ),
            };
            (format!("t{i}.json"), body)
        })
        .collect();
    let extra = format!(
        "fail_on: {fail_on}\n{}{ALL_REPORTS}",
        work.map_or(String::new(), |w| format!("max_rule_work: {w}\n"))
    );
    let m = manifest(dir.path(), &named(&files), &extra);
    let out = dir.path().join("out");
    let code = pff_run(&m, &out, &[]).output().unwrap().status.code();

    // Each record's result, read from report.json: a failed task is one failed record.
    let json: serde_json::Value = serde_json::from_str(&read(&out.join("report.json"))).unwrap();
    let records: Vec<(String, u64, &str)> = json["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let n = |k: &str| r["finding_counts"][k].as_u64().unwrap_or(0);
            let cut = r["rules"]["truncated"].as_u64().unwrap_or(0)
                + r["rules"]["skipped"].as_u64().unwrap_or(0);
            let class = if r["error"].is_string() {
                "FAILED"
            } else if cut > 0 {
                "INCOMPLETE"
            } else if n("error") > 0 {
                "ERRORS"
            } else if n("warning") > 0 {
                "WARNINGS"
            } else {
                "OK"
            };
            let task = r["task"].as_str().unwrap().to_string();
            (task, r["index"].as_u64().unwrap_or(0), class)
        })
        .collect();
    let per_task = |k: &Kind| if matches!(k, Kind::Pair(_)) { 2 } else { 1 };
    assert_eq!(
        records.len(),
        kinds.iter().map(per_task).sum::<usize>(),
        "{kinds:?}: {records:?}"
    );
    // What is known of each kind: a broken task fails, a clean record is OK.
    let mut at = 0;
    for k in kinds {
        match k {
            Kind::Broken => assert_eq!(records[at].2, "FAILED", "{kinds:?}: {records:?}"),
            Kind::Clean | Kind::Pair(_) => assert_eq!(records[at].2, "OK", "{records:?}"),
            Kind::Sample(_) => {}
        }
        at += per_task(k);
    }
    // results.csv has a row a task: the strongest result of its records.
    const ORDER: [&str; 5] = ["FAILED", "INCOMPLETE", "ERRORS", "WARNINGS", "OK"];
    let rows = csv_results(&out);
    let keys = csv_keys(&out);
    assert_eq!(rows.len(), kinds.len(), "{rows:?}");
    for (key, row) in keys.iter().zip(&rows) {
        let strongest = records
            .iter()
            .filter(|r| &r.0 == key)
            .map(|r| ORDER.iter().position(|o| *o == r.2).unwrap())
            .min()
            .map(|i| ORDER[i]);
        assert_eq!(Some(row.as_str()), strongest, "{key}: {rows:?} {records:?}");
    }
    let count = |c: &str| records.iter().filter(|r| r.2 == c).count();
    let (failed, incomplete, errors, warnings) = (
        count("FAILED"),
        count("INCOMPLETE"),
        count("ERRORS"),
        count("WARNINGS"),
    );

    // The exit code: failed tasks, then cut short, then findings at the --fail-on level.
    let fails = match fail_on {
        "error" => errors > 0,
        "warning" => errors + warnings > 0,
        _ => false,
    };
    let broken = kinds.iter().any(|k| matches!(k, Kind::Broken));
    let want = if broken {
        3
    } else if incomplete > 0 {
        4
    } else if fails {
        1
    } else {
        0
    };
    assert_eq!(code, Some(want), "{kinds:?} {work:?} {fail_on}: {rows:?}");

    // summary.json and report.json: the same verdict, the same counts.
    let verdict = match want {
        3 => "failed",
        4 => "incomplete",
        1 => "findings",
        _ => "ok",
    };
    let s = summary(&out);
    assert_eq!(s["verdict"], verdict, "{s}");
    assert_eq!(s["records"], records.len(), "{s}");
    assert_eq!(
        s["tasks_failed"],
        kinds.iter().filter(|k| matches!(k, Kind::Broken)).count()
    );
    assert_eq!(s["complete"], true);
    if incomplete > 0 {
        assert_eq!(s["cut_short"]["records"], incomplete, "{s}");
    } else {
        assert!(
            s["cut_short"].is_null() || s["cut_short"]["records"] == 0,
            "{s}"
        );
    }
    assert_eq!(json["summary"]["verdict"], verdict);
    assert_eq!(json["summary"]["failed_records"], failed);

    // JSON Lines: a line a finding, a failed record or a record cut short, each naming its
    // task; every task with an ERRORS row has an error finding.
    let jsonl = read(&out.join("report.jsonl"));
    let lines: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.iter().all(|l| l["task"].is_string()), "{jsonl}");
    assert_eq!(
        lines.iter().filter(|l| l["error"].is_string()).count(),
        failed
    );
    assert_eq!(
        lines.iter().filter(|l| l["incomplete"] == true).count(),
        incomplete,
        "{jsonl}"
    );
    for (task, index, class) in &records {
        let has = |sev: &str| {
            lines.iter().any(|l| {
                l["task"] == task.as_str() && l["record"] == *index && l["severity"] == sev
            })
        };
        match *class {
            "ERRORS" => assert!(has("error"), "{task}#{index}: {jsonl}"),
            "WARNINGS" => assert!(has("warning") && !has("error"), "{task}#{index}: {jsonl}"),
            _ => {}
        }
    }

    let by_severity = |sev: &str| s["records_by_severity"][sev].as_u64().unwrap() as usize;
    assert!(by_severity("error") >= errors, "{s}");
    assert!(
        by_severity("error") + by_severity("warning") >= errors + warnings,
        "{s}"
    );
    // JUnit: a test case a record, an error for each failed or incomplete one.
    let junit = read(&out.join("junit.xml"));
    assert!(
        junit.contains(&format!(
            "tests=\"{}\" failures=\"{}\" errors=\"{}\"",
            records.len(),
            // A record cut short may still have findings: counted by severity in the summary.
            match fail_on {
                "error" => by_severity("error"),
                "warning" => by_severity("error") + by_severity("warning"),
                _ => 0,
            },
            failed + incomplete
        )),
        "{records:?}\n{junit}"
    );

    // SARIF: the run succeeded only when every record was checked in full.
    let sarif: serde_json::Value = serde_json::from_str(&read(&out.join("report.sarif"))).unwrap();
    assert_eq!(
        sarif["runs"][0]["invocations"][0]["executionSuccessful"],
        failed + incomplete == 0,
        "{sarif}"
    );

    // Markdown and text: the verdict in words.
    let md = read(&out.join("report.md"));
    let txt = read(&out.join("report.txt"));
    match verdict {
        "failed" => {
            assert!(
                md.contains(&format!("**Failed:** {failed} records")),
                "{md}"
            );
            assert!(txt.contains("verdict: FAILED"), "{txt}");
        }
        "incomplete" => {
            assert!(
                md.contains(&format!("**Incomplete:** {incomplete} records")),
                "{md}"
            );
            assert!(txt.contains("verdict: INCOMPLETE"), "{txt}");
        }
        "findings" => assert!(txt.contains("verdict: findings"), "{txt}"),
        _ => assert!(txt.contains("verdict: ok"), "{txt}"),
    }

    // The workbook: a row a record, with the same result.
    let book = xlsx_rows(&out.join("report.xlsx"));
    for r in ORDER {
        let n = book.iter().filter(|row| row.iter().any(|c| c == r)).count();
        assert_eq!(n, count(r), "{r} in the workbook: {book:?}");
    }
}

use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random mixes of clean, finding, failed and cut-short tasks (some holding two records):
    /// the exit code, `summary.json`, `results.csv` and every format agree.
    #[test]
    fn every_output_agrees_on_random_mixes(
        kinds in proptest::collection::vec(
            prop_oneof![
                Just(Kind::Clean),
                (0usize..12).prop_map(Kind::Sample),
                Just(Kind::Broken),
                (0usize..12).prop_map(Kind::Pair),
            ],
            1..6,
        ),
        work in prop_oneof![Just(None), Just(Some(0u64)), Just(Some(3u64))],
        fail_on in prop_oneof![Just("error"), Just("warning"), Just("never")],
    ) {
        check_mix(&kinds, work, fail_on);
    }
}
