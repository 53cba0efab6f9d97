//! Issue 21's smaller promises: no output over its own input, no calibration without evidence,
//! no panic on odd settings, a closed pipe is not an error.

mod common;

use std::fs;

use common::{manifest, named, pff, pff_run, read, sample_records, stderr_of};

/// `-o` (or `--rule-stats`) naming an input, directly or through a link, is refused and the
/// input is left whole.
#[test]
fn an_output_over_its_own_input_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("d.jsonl");
    let original = read(&common::root().join("data/records.jsonl"));
    fs::write(&data, &original).unwrap();
    let link = dir.path().join("link.jsonl");
    std::os::unix::fs::symlink(&data, &link).unwrap();
    let d = data.to_str().unwrap();
    let l = link.to_str().unwrap();
    let cases: Vec<Vec<&str>> = vec![
        vec!["triples", d, "-o", d],
        vec!["triples", d, "-o", l],
        vec!["validate", d, "--rules", "data/rules.txt", "-o", d],
        vec![
            "validate",
            d,
            "--rules",
            "data/rules.txt",
            "--rule-stats",
            l,
        ],
        vec!["generate", d, "-o", l],
        vec!["calibrate", d, "--rules", "data/rules.txt", "-o", d],
    ];
    for args in cases {
        let err = stderr_of(&mut pff(&args), 2);
        assert!(err.contains("same file"), "{args:?}: {err}");
        assert_eq!(read(&data), original, "{args:?} changed the input");
    }
}

/// Zero corruptions is no evidence: the calibration is refused, not printed as 0.001/0.001.
#[test]
fn a_calibration_without_corruptions_is_an_error() {
    let err = stderr_of(
        &mut pff(&[
            "calibrate",
            "data/records.jsonl",
            "--rules",
            "data/rules.txt",
            "--corruptions",
            "0",
        ]),
        2,
    );
    assert!(err.contains("without evidence"), "{err}");
}

/// A rate so low its gap does not fit a duration is a manifest error, not a panic.
#[test]
fn a_tiny_rate_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(
        dir.path(),
        &common::named(&recs[..1]),
        "rate_limit: 1e-300\n",
    );
    let err = stderr_of(&mut pff_run(&m, dir.path().join("out"), &[]), 2);
    assert!(err.contains("rate_limit"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// `pff completions fish | head -1`: the closed pipe ends the command quietly.
#[test]
fn completions_into_a_closed_pipe_are_not_an_error() {
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' completions fish | head -c 1 >/dev/null; exit ${{PIPESTATUS:-0}}",
            bin.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("internal error"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// A pretty-printed record on standard input is read as one JSON document.
#[test]
fn a_pretty_document_on_stdin_is_one_record() {
    let rec = read(&common::root().join("data/records/CUST1001.json"));
    assert!(rec.lines().count() > 5, "the sample is pretty-printed");
    let a = pff(&[
        "validate",
        "-",
        "--rules",
        "data/rules.txt",
        "--fail-on",
        "never",
    ])
    .write_stdin(rec)
    .assert()
    .code(0);
    let out = String::from_utf8_lossy(&a.get_output().stdout).into_owned();
    assert!(out.contains("1 record,"), "{out}");
}

/// `-o r.xlsx` without `-f` writes a workbook; a 40,000-character value is cut to what a cell
/// holds, and every report of a run is still written.
#[test]
fn formats_follow_the_extension_and_long_cells_are_cut() {
    let dir = tempfile::tempdir().unwrap();
    let long = "v".repeat(40_000);
    let rec = format!("{{\"id\": \"L1\", \"name\": \"{long}\", \"status\": \"x\"}}\n");
    let data = dir.path().join("long.jsonl");
    fs::write(&data, &rec).unwrap();
    let xlsx = dir.path().join("r.xlsx");
    pff(&[
        "validate",
        data.to_str().unwrap(),
        "--rules",
        "data/rules.txt",
        "--fail-on",
        "never",
        "-o",
        xlsx.to_str().unwrap(),
    ])
    .assert()
    .code(0);
    assert!(
        fs::read(&xlsx).unwrap().starts_with(b"PK"),
        "a zip workbook"
    );
    let m = manifest(
        dir.path(),
        &[("long.json", rec.trim())],
        "reports: [xlsx, markdown, junit, sarif]\nfail_on: never\n",
    );
    let out = dir.path().join("out");
    pff_run(&m, &out, &[]).assert().code(0);
    for f in ["report.xlsx", "report.md", "junit.xml", "report.sarif"] {
        assert!(out.join(f).is_file(), "{f}");
    }
}

/// `--max-workers 10000` on a 2-CPU machine is capped with a warning.
#[test]
fn absurd_worker_counts_are_capped() {
    let a = pff(&[
        "validate",
        "data/records/CUST1001.json",
        "--rules",
        "data/rules.txt",
        "--max-workers",
        "10000",
        "--fail-on",
        "never",
    ])
    .assert()
    .code(0);
    let err = String::from_utf8_lossy(&a.get_output().stderr).into_owned();
    assert!(err.contains("--max-workers 10000 is more than"), "{err}");
}

/// Devices and pipes never make pff read without end: a tasks file that is not a regular
/// file is refused, a JSON document or a manifest is read up to a documented size.
#[test]
fn endless_inputs_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: z\nrules: {}\ntasks_file: /dev/zero\n",
            common::root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let err = stderr_of(&mut pff_run(&m, dir.path().join("o"), &[]), 2);
    assert!(err.contains("not a regular file"), "{err}");
    let err = stderr_of(&mut pff(&["run", "/dev/zero"]), 2);
    assert!(err.contains("larger than"), "{err}");
    let err = stderr_of(&mut pff(&["generate", "/dev/zero"]), 2);
    assert!(err.contains("larger than"), "{err}");
}

/// A descriptor limit too low for the run is named before anything starts (it used to panic
/// in the runtime's signal set-up, or blame the memory).
#[test]
fn a_low_open_file_limit_is_named() {
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let dir = tempfile::tempdir().unwrap();
    for n in [10, 15, 28] {
        let out = std::process::Command::new("sh")
            .current_dir(common::root())
            .arg("-c")
            .arg(format!(
                "ulimit -n {n}; exec '{}' run manifests/smoke.yaml -q -o '{}'",
                bin.display(),
                dir.path().join(format!("o{n}")).display()
            ))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{n}: {err}");
        assert!(err.contains("open-file limit (ulimit -n)"), "{n}: {err}");
    }
}

/// Status wrappers `depth` deep with `width` values a level: under a nested mapping its derived
/// triples grow as width x depth^2 / 2 (here about 1.2 million, over the bound of a million).
fn deep_record(depth: usize, width: usize) -> String {
    let values: Vec<String> = (0..width).map(|i| format!("\"v{i}\"")).collect();
    let values = values.join(",");
    let mut inner = String::from("\"end\"");
    for _ in 0..depth {
        inner = format!(r#"{{"status":[{values},{inner}]}}"#);
    }
    format!(r#"{{"id":"DEEP","status":[{inner}]}}"#)
}

/// Item 15: a record whose derived triples would exceed the per-record bound fails alone,
/// with a message naming it and the fix, in `validate` and in `run`; the other records are
/// checked, and the same record is fine under the plain mapping.
#[test]
fn a_record_with_too_many_derived_triples_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let deep = deep_record(40, 1500);
    let data = dir.path().join("d.jsonl");
    fs::write(
        &data,
        format!("{deep}\n{{\"id\":\"OK1\",\"status\":\"Active\"}}\n"),
    )
    .unwrap();
    let d = data.to_str().unwrap();
    let out = pff(&[
        "validate",
        d,
        "--rules",
        "data/rules.txt",
        "--mapping",
        "nested",
        "-f",
        "json",
    ])
    .assert()
    .code(2)
    .get_output()
    .clone();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("d.jsonl:1: record 0 would give more than 1000000 derived triples")
            && err.contains("--mapping plain"),
        "{err}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let records = report["records"].as_array().unwrap();
    assert_eq!(records.len(), 2, "{report}");
    assert!(records[1]["error"].is_null(), "{report}");
    pff(&[
        "validate",
        d,
        "--rules",
        "data/rules.txt",
        "--fail-on",
        "never",
    ])
    .assert()
    .code(0);

    let m = manifest(
        dir.path(),
        &[
            ("deep.json", &deep),
            ("fine.json", r#"{"id":"F","status":"Active"}"#),
        ],
        "mapping: nested\n",
    );
    let out_dir = dir.path().join("out");
    // A task of one record: that record failing fails its task (exit 3), not the run.
    pff_run(&m, &out_dir, &["--fail-on", "never"])
        .assert()
        .code(3);
    let results = read(&out_dir.join("results.csv"));
    assert!(results.contains("derived triples"), "{results}");
    assert_eq!(results.lines().count(), 3, "{results}");
}

/// The dated run folders under `dir`, by name.
fn dated_runs(dir: &std::path::Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Item 24: an unchanged manifest with a fixed `execution_id` runs again every night. Without
/// an output folder each run gets a dated folder of its own; `--baseline last` compares with the
/// newest complete one (none on the first night); `--resume` continues the newest.
#[test]
fn an_unchanged_manifest_runs_every_night_into_dated_folders() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(dir.path(), &named(&recs), "");
    let m = m.to_str().unwrap();
    let night = |extra: &[&str]| {
        let mut args = vec!["run", m, "-q"];
        args.extend_from_slice(extra);
        let mut cmd = pff(&args);
        cmd.current_dir(dir.path());
        cmd
    };
    let err = stderr_of(&mut night(&["--baseline", "last"]), 1);
    assert!(err.contains("no earlier complete run"), "{err}");
    night(&[]).assert().code(1);
    let parent = dir.path().join("out/t");
    let runs = dated_runs(&parent);
    assert_eq!(runs.len(), 2, "{runs:?}");
    for r in &runs {
        assert!(r.ends_with('Z') || r.contains("Z-"), "{r}");
        let s: serde_json::Value =
            serde_json::from_str(&read(&parent.join(r).join("summary.json"))).unwrap();
        assert_eq!(s["complete"], true, "{r}");
    }
    // The third night against the second: every finding known, none new, none fixed.
    let err = stderr_of(&mut night(&["--baseline", "last"]), 1);
    assert!(
        err.contains(&format!(
            "the last complete run, {}",
            parent.join(&runs[1]).display()
        )) || err.contains(&runs[1]),
        "{err}"
    );
    let runs = dated_runs(&parent);
    assert_eq!(runs.len(), 3, "{runs:?}");
    let s: serde_json::Value =
        serde_json::from_str(&read(&parent.join(&runs[2]).join("summary.json"))).unwrap();
    assert_eq!(s["baseline"]["new"]["error"], 0, "{s}");
    assert!(s["baseline"]["known"].as_u64().unwrap() > 0, "{s}");
    // Nothing to resume: the newest run is complete.
    let err = stderr_of(&mut night(&["--resume"]), 2);
    assert!(err.contains("nothing to resume"), "{err}");
    // An interrupted night (no summary yet) is what --resume continues, in its own folder.
    fs::remove_file(parent.join(&runs[2]).join("summary.json")).unwrap();
    night(&["--resume"]).assert().code(1);
    assert!(parent.join(&runs[2]).join("summary.json").exists());
    assert_eq!(dated_runs(&parent).len(), 3);
    // `last` needs dated runs; a fixed folder is refused with the fix.
    let fixed = dir.path().join("fixed");
    let err = stderr_of(&mut pff_run(m, &fixed, &["--baseline", "last"]), 2);
    assert!(err.contains("--dated"), "{err}");
    // --dated under a chosen folder.
    pff_run(m, &fixed, &["--dated"]).assert().code(1);
    pff_run(m, &fixed, &["--dated", "--baseline", "last"])
        .assert()
        .code(1);
    assert_eq!(dated_runs(&fixed).len(), 2);
}

/// `pff run` of a manifest of the source `big` (named `name`) beside a small fine one, with
/// `extra` manifest lines, under `ulimit -v 400000` (about 400 MB of address space): the run
/// fails (exit 3), the fine source is checked, and the big source's row of `results.csv`,
/// which must say FAILED and name `ulimit -v`, is handed back with the whole file.
fn big_source_fails_alone_under_400_mb(name: &str, big: &str, extra: &str) -> (String, String) {
    let dir = tempfile::tempdir().unwrap();
    let m = manifest(
        dir.path(),
        &[
            (name, big),
            ("fine.json", r#"{"id":"F","status":"Active"}"#),
        ],
        extra,
    );
    let out = dir.path().join("out");
    let script = format!(
        "ulimit -v 400000 && exec {} run {} -q -o {}",
        assert_cmd::cargo::cargo_bin("pff").display(),
        m.display(),
        out.display()
    );
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(3), "{status:?}");
    let results = read(&out.join("results.csv"));
    let row = results
        .lines()
        .find(|l| l.starts_with(name))
        .unwrap()
        .to_string();
    assert!(
        row.contains("FAILED") && row.contains("ulimit -v"),
        "{results}"
    );
    assert!(results.contains("fine.json,validate,OK"), "{results}");
    (results, row)
}

/// Memory: under an address-space limit (`ulimit -v`), a source that would need more than is
/// left fails alone, before it is parsed, naming the limit; the other tasks are checked and
/// pff never aborts on a failed allocation.
#[test]
fn a_task_too_big_for_the_address_space_fails_alone() {
    // About 12 MB of small objects in one JSON document: up to 32 times that while parsed.
    let mut big = String::from("[");
    let mut i = 0;
    while big.len() < 12_000_000 {
        if i > 0 {
            big.push(',');
        }
        big.push_str(&format!(
            r#"{{"id":"B{i}","a":[{{"b":1}},{{"b":2}},{{"b":3}}]}}"#
        ));
        i += 1;
    }
    big.push(']');
    big_source_fails_alone_under_400_mb("big.json", &big, "");
}

/// A file checked as one graph holds every record's triples at once, so it is admitted as a
/// graph (8 times its size), not as JSON Lines read a record at a time (2 times): under an
/// address-space limit it fails alone, naming what it would need.
#[test]
fn a_file_checked_as_one_graph_is_admitted_as_a_graph() {
    let mut big = String::new();
    let mut i = 0;
    while big.len() < 45_000_000 {
        big.push_str(&format!("{{\"id\":\"B{i}\",\"status\":\"Active\"}}\n"));
        i += 1;
    }
    let (results, big_row) =
        big_source_fails_alone_under_400_mb("big.jsonl", &big, "one_graph: true\n");
    let need = format!("needs up to {} MB", (big.len() as u64 * 8) >> 20);
    assert!(big_row.contains(&need), "{results}");
}

/// Shards are merged by folder: a dated shard folder is refused (manifest key or flag).
#[test]
fn shards_are_never_dated() {
    let dir = tempfile::tempdir().unwrap();
    let recs = sample_records();
    let m = manifest(dir.path(), &named(&recs[..2]), "");
    let out = dir.path().join("o");
    let err = stderr_of(&mut pff_run(&m, &out, &["--dated", "--shard", "0/2"]), 2);
    assert!(err.contains("--dated and --shard"), "{err}");
    assert!(!out.exists());
}
