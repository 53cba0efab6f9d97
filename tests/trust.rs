//! Issue 21's smaller promises: no output over its own input, no calibration without evidence,
//! no panic on odd settings, a closed pipe is not an error.

mod common;

use std::fs;

use common::{manifest, pff, pff_run, read, sample_records, stderr_of};

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
