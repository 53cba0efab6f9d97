//! `pff run` end to end: outputs, resume, failures, memory guard, bounds.

use std::fs;
use std::path::Path;

use tempfile::TempDir;

mod common;
use common::{manifest, outputs, pff, pff_run, read, root, sample_records, stderr_of, write};

#[test]
fn smoke_manifest_writes_every_output() {
    let dir = TempDir::new().unwrap();
    let out = dir.path().join("out");
    pff_run("manifests/smoke.yaml", &out, &[]).assert().code(1);
    let csv = read(&out.join("results.csv"));
    assert_eq!(csv.lines().count(), 13);
    assert!(csv.starts_with("MSISDN,request,result,observations\n"));
    assert!(csv.contains("CUST1005,validate,ERRORS,\"1 error, 0 warning, 1 info findings\""));
    // Only info findings: the record is OK (its counts say what there is).
    assert!(csv.contains("CUST1000,validate,OK,\"0 error, 0 warning, 6 info findings\""));
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["tasks_done"], 12);
    assert_eq!(summary["findings"]["error"], 5);
    assert_eq!(fs::read_dir(out.join("tasks")).unwrap().count(), 12);
    let task: serde_json::Value =
        serde_json::from_str(&read(&out.join("tasks/000001-CUST1001.json"))).unwrap();
    assert_eq!(
        task["records"][0]["findings"][0]["missing"]["object"],
        "Plano Pós 25GB"
    );
    assert!(summary["rule_health"]["applied"].as_u64().unwrap() > 0);
    let stats = read(&out.join("rule-stats.txt"));
    assert_eq!(stats.lines().count(), 36, "one line per rule");
    let health = read(&out.join("rule-health.tsv"));
    assert!(
        health.starts_with("rule_id\tapplied\theld\tbroken\t"),
        "{health}"
    );
    assert!(
        health
            .lines()
            .last()
            .unwrap()
            .starts_with("# never applied: "),
        "{health}"
    );
    // Largest drop first: the first data row's drop is the largest.
    let drops: Vec<f64> = health
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split('\t').nth(8).unwrap().parse().unwrap())
        .collect();
    assert!(drops.windows(2).all(|w| w[0] >= w[1]), "{drops:?}");
    // The same counts `pff validate --rule-stats` gives on the same records.
    let vs = out.join("validate-stats.txt");
    pff(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        "data/rules.txt",
        "--rule-stats",
        vs.to_str().unwrap(),
        "-o",
        "/dev/null",
    ])
    .assert()
    .code(1);
    assert_eq!(stats, read(&vs));
    // The manifest's `reports:`.
    let md = read(&out.join("report.md"));
    assert!(md.contains("**12 records**"), "{md}");
    assert!(md.contains("## Rule health"), "{md}");
    let junit = read(&out.join("junit.xml"));
    let doc = roxmltree::Document::parse(&junit).expect("well-formed JUnit");
    assert_eq!(
        doc.descendants()
            .filter(|n| n.has_tag_name("testcase"))
            .count(),
        12
    );
    let sarif: serde_json::Value = serde_json::from_str(&read(&out.join("report.sarif"))).unwrap();
    assert_eq!(sarif["version"], "2.1.0");
    assert!(!out.join("report.json").exists());
    let events = read(&out.join("events.jsonl"));
    assert!(events.lines().next().unwrap().contains("\"start\""));
    assert_eq!(events.matches("task_done").count(), 12);
    assert!(events.lines().last().unwrap().contains("\"stop\""));
}

#[test]
fn rerun_needs_resume_or_fresh_and_resume_completes_identically() {
    let dir = TempDir::new().unwrap();
    let recs = sample_records();
    let recs: Vec<(&str, &str)> = recs.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
    let m = manifest(dir.path(), &recs, "");
    let full = dir.path().join("full");
    let part = dir.path().join("part");
    let (m, full_s, part_s) = (
        m.to_str().unwrap(),
        full.to_str().unwrap(),
        part.to_str().unwrap(),
    );
    pff_run(m, full_s, &[]).assert().code(1);
    pff_run(m, full_s, &[]).assert().code(2);
    pff(&["run", m, "-q", "-o", full_s, "--fresh"])
        .assert()
        .code(1);

    // An interrupted run: only some task files exist, no final outputs.
    pff_run(m, part_s, &[]).assert().code(1);
    for (i, entry) in fs::read_dir(part.join("tasks")).unwrap().enumerate() {
        if i % 3 != 0 {
            fs::remove_file(entry.unwrap().path()).unwrap();
        }
    }
    fs::remove_file(part.join("summary.json")).unwrap();
    fs::remove_file(part.join("results.csv")).unwrap();
    pff(&["run", m, "-q", "-o", part_s, "--resume"])
        .assert()
        .code(1);
    for f in ["results.csv", "summary.json"] {
        assert_eq!(read(&full.join(f)), read(&part.join(f)), "{f}");
    }
    let mut names: Vec<_> = fs::read_dir(full.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    for n in names {
        assert_eq!(
            read(&full.join("tasks").join(&n)),
            read(&part.join("tasks").join(&n))
        );
    }
}

#[test]
fn a_bad_task_fails_alone_with_exit_3() {
    let dir = TempDir::new().unwrap();
    let good =
        r#"{"id":"K1","paymentContext":"Control","contractSpecification":{"id":"SPEC_CTRL"}}"#;
    let m = manifest(
        dir.path(),
        &[
            ("a.json", good),
            ("b.json", "{\"id\": oops}"),
            ("c.json", good),
        ],
        "",
    );
    let out = dir.path().join("o");
    pff_run(&m, &out, &[]).assert().code(3);
    let csv = read(&out.join("results.csv"));
    // The sample's zero rule (paymentContext Postpaid, info) fires on any contract.
    assert!(
        csv.contains("a.json,validate,OK,\"0 error, 0 warning, 1 info findings\""),
        "{csv}"
    );
    assert!(csv.contains("b.json,validate,FAILED,"), "{csv}");
    assert!(csv.contains("b.json:1:8: invalid JSON"), "{csv}");
    assert!(csv.contains("c.json,validate,OK"), "{csv}");
    assert!(read(&out.join("events.jsonl")).contains("task_failed"));
}

#[test]
fn manifest_problems_exit_2_with_locations() {
    let dir = TempDir::new().unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        "execution_id: x\ntasks:\n- msisdn: nope.json\n  sequence: Other\n",
    )
    .unwrap();
    let a = pff(&["run", m.to_str().unwrap()]).assert().code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("2 problems"), "{err}");
    assert!(
        err.contains("m.yaml:4:13: unknown sequence `Other`"),
        "{err}"
    );
    assert!(err.contains("m.yaml:3:11: task source"), "{err}");
}

#[test]
fn memory_limit_below_footprint_fails_fast() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path(), &[("a.json", "{}")], "");
    let a = pff_run(&m, dir.path().join("o"), &["--memory-limit", "1K"])
        .assert()
        .code(2);
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(err.contains("raise --memory-limit"), "{err}");
}

/// 300 one-record tasks with one worker and `extra` manifest keys: the start and stop events.
fn run_300_tasks(extra: &str) -> (serde_json::Value, serde_json::Value) {
    let dir = TempDir::new().unwrap();
    let rec = r#"{"id":"K1","paymentContext":"Control"}"#;
    let names: Vec<String> = (0..300).map(|i| format!("r{i}.json")).collect();
    let recs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), rec)).collect();
    let m = manifest(dir.path(), &recs, extra);
    let out = dir.path().join("o");
    let (m, o) = (m.to_str().unwrap(), out.to_str().unwrap());
    pff_run(m, o, &["--max-workers", "1"]).assert().code(1);
    assert_eq!(read(&out.join("results.csv")).lines().count(), 301);
    let events = read(&out.join("events.jsonl"));
    let event = |line: Option<&str>| serde_json::from_str(line.unwrap()).unwrap();
    (event(events.lines().next()), event(events.lines().last()))
}

#[test]
fn in_flight_work_stays_within_the_queue_bounds() {
    let (_, stop) = run_300_tasks("");
    let max = stop["max_in_flight"].as_u64().unwrap();
    // 1 worker: 2 reads at once + input queue 2 + 1 in the worker + result queue 2 + 1 being
    // written. Without the bounds all 300 would be admitted at once.
    assert!((1..=8).contains(&max), "max in flight {max}");
}

#[test]
fn worker_count_does_not_change_outputs() {
    let dir = TempDir::new().unwrap();
    let o1 = dir.path().join("o1");
    let o2 = dir.path().join("o2");
    pff_run("manifests/smoke.yaml", &o1, &["--max-workers", "1"])
        .assert()
        .code(1);
    pff_run("manifests/smoke.yaml", &o2, &["--max-workers", "2"])
        .assert()
        .code(1);
    for f in ["results.csv", "summary.json", "tasks/000005-CUST1005.json"] {
        assert_eq!(read(&o1.join(f)), read(&o2.join(f)), "{f}");
    }
}

#[test]
fn predecessor_manifest_is_accepted_and_clamped() {
    let a = pff(&[
        "run",
        "manifests/predecessor.yaml",
        "--rules",
        "data/rules.txt",
        "--dry-run",
    ])
    .assert()
    .code(0);
    let out = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    let err = String::from_utf8(a.get_output().stderr.clone()).unwrap();
    assert!(
        out.contains("profile:") && out.contains("memory budget"),
        "{out}"
    );
    assert!(out.contains("execution execucao-gerada: 2 tasks"), "{out}");
    assert!(
        err.contains("asks for 16 workers") || out.contains("asks for 16 workers"),
        "{err}{out}"
    );
    pff(&["run", "manifests/predecessor.yaml", "--dry-run"])
        .assert()
        .code(2);
    pff(&["doctor"]).assert().code(0);
}

#[test]
fn sigterm_stops_cleanly_and_resume_completes() {
    let dir = TempDir::new().unwrap();
    let rec = r#"{"id":"K1","paymentContext":"Control"}"#;
    let names: Vec<String> = (0..3000).map(|i| format!("r{i}.json")).collect();
    let recs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), rec)).collect();
    let m = manifest(dir.path(), &recs, "");
    let out = dir.path().join("o");
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let mut child = std::process::Command::new(&bin)
        .args([
            "run",
            m.to_str().unwrap(),
            "-q",
            "--max-workers",
            "1",
            "-o",
            out.to_str().unwrap(),
        ])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the run has written something, then ask it to stop.
    let events = out.join("events.jsonl");
    for _ in 0..500 {
        if events.exists() && read(&events).contains("task_done") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let code = child.wait().unwrap().code();
    // 143 when the signal arrived mid-run; 1 if the run had already finished.
    assert!(matches!(code, Some(143) | Some(1)), "exit {code:?}");
    let log = read(&events);
    if code == Some(143) {
        assert!(log.contains("\"reason\":\"signal\""), "{log}");
        let summary: serde_json::Value =
            serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
        assert_eq!(summary["complete"], false);
    }
    common::pff_run(&m, &out, &["--resume"]).assert().code(1);
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    assert_eq!(summary["complete"], true);
    assert_eq!(summary["tasks_done"], 3000);
    assert_eq!(read(&out.join("results.csv")).lines().count(), 3001);
}

/// The fetch tests' server on 127.0.0.1 (it stops by itself after 30 s): `/ok.json`, a
/// `/flaky.json` that fails once with 500, a 5 kB `/big.json`, a `/redir.json` to another
/// scheme, a `/slow.json` that takes 3 s; anything else is 404.
fn serve(record: &'static str) -> std::net::SocketAddr {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let flaky = AtomicUsize::new(0);
    common::http_server(30, move |path, _| {
        let ok = || ("200 OK".to_string(), String::new(), record.to_string());
        Some(match path {
            "/ok.json" => ok(),
            "/flaky.json" if flaky.fetch_add(1, Ordering::SeqCst) == 0 => (
                "500 Internal Server Error".into(),
                String::new(),
                "oops".into(),
            ),
            "/flaky.json" => ok(),
            "/big.json" => (
                "200 OK".into(),
                String::new(),
                format!("{{\"pad\":\"{}\"}}", "x".repeat(5000)),
            ),
            "/redir.json" => (
                "302 Found".into(),
                "Location: ftp://127.0.0.1/x.json\r\n".into(),
                String::new(),
            ),
            "/slow.json" => {
                std::thread::sleep(std::time::Duration::from_secs(3));
                ok()
            }
            _ => ("404 Not Found".into(), String::new(), "no".into()),
        })
    })
}

#[test]
fn http_sources_are_fetched_with_limits_retries_and_timeouts() {
    let record =
        r#"{"id":"K1","paymentContext":"Control","contractSpecification":{"id":"SPEC_CTRL"}}"#;
    let addr = serve(record);
    let dir = TempDir::new().unwrap();
    let rules = root().join("data/rules.txt");
    let mut m = format!(
        "execution_id: http\nrules: {}\nfetch_timeout_secs: 1\nfetch_max_bytes: 1000\nfetch_retries: 1\ntasks:\n",
        rules.display()
    );
    for name in ["ok", "flaky", "missing", "big", "redir", "slow"] {
        m.push_str(&format!(
            "- msisdn: {name}\n  source: http://{addr}/{name}.json\n"
        ));
    }
    let mp = dir.path().join("m.yaml");
    fs::write(&mp, m).unwrap();
    let out = dir.path().join("o");
    pff_run(&mp, &out, &[]).assert().code(3);
    let csv = read(&out.join("results.csv"));
    let row = |name: &str| {
        csv.lines()
            .find(|l| l.starts_with(&format!("{name},")))
            .unwrap_or_else(|| panic!("no row for {name}: {csv}"))
            .to_string()
    };
    // Fetched and checked (the sample's zero rule gives an info finding).
    assert!(
        row("ok").contains(",OK,\"0 error, 0 warning, 1 info"),
        "{csv}"
    );
    assert!(
        row("flaky").contains(",OK,\"0 error, 0 warning, 1 info"),
        "a 500 then a 200: retried: {csv}"
    );
    assert!(row("missing").contains("HTTP 404"), "{csv}");
    assert!(row("big").contains("1000-byte limit"), "{csv}");
    assert!(row("redir").contains("FAILED"), "{csv}");
    assert!(row("redir").contains("another scheme"), "{csv}");
    assert!(row("slow").contains("FAILED"), "timed out: {csv}");
}

#[test]
fn kill_9_at_random_points_then_resume_equals_an_uninterrupted_run() {
    let dir = TempDir::new().unwrap();
    let recs = sample_records();
    // 240 tasks: the 12 sample records, 20 times each under different names.
    let mut owned = Vec::new();
    for k in 0..20 {
        for (name, content) in &recs {
            owned.push((format!("{k}-{name}"), content.clone()));
        }
    }
    let refs: Vec<(&str, &str)> = owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let m = manifest(dir.path(), &refs, "reports: [markdown, junit]\n");
    let m = m.to_str().unwrap();
    let full = dir.path().join("full");
    pff_run(m, &full, &[]).assert().code(1);

    let killed = dir.path().join("killed");
    let bin = assert_cmd::cargo::cargo_bin("pff");
    // Deterministic "random" kill points (no RNG dependency): a spread of delays.
    let mut seed: u64 = 0x9e3779b97f4a7c15;
    let mut kills = 0;
    for _ in 0..12 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = std::time::Duration::from_millis(5 + seed % 120);
        let mut child = std::process::Command::new(&bin)
            .args(["run", m, "-q", "--resume", "-o", killed.to_str().unwrap()])
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
        // No temporary or half-written task file is ever visible under its final name.
        if let Ok(entries) = fs::read_dir(killed.join("tasks")) {
            for e in entries {
                let p = e.unwrap().path();
                if p.extension().is_some_and(|x| x == "json") {
                    serde_json::from_str::<serde_json::Value>(&read(&p))
                        .unwrap_or_else(|e| panic!("half-written {}: {e}", p.display()));
                }
            }
        }
    }
    assert!(kills > 0, "no run was killed: the test proved nothing");
    pff_run(m, &killed, &["--resume"]).assert().code(1);
    let leftovers: Vec<_> = fs::read_dir(killed.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_none_or(|x| x != "json"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    for f in [
        "results.csv",
        "summary.json",
        "rule-stats.txt",
        "report.md",
        "junit.xml",
    ] {
        assert_eq!(read(&full.join(f)), read(&killed.join(f)), "{f}");
    }
    // Every event line is whole JSON.
    for line in read(&killed.join("events.jsonl")).lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("torn event {line:?}: {e}"));
    }
}

#[test]
fn rules_filed_on_disk_give_the_outputs_of_rules_in_memory() {
    let dir = TempDir::new().unwrap();
    let mut recs = sample_records();
    // A task of several records, one of them unreadable, and a task that is not JSON at all.
    let lines: Vec<String> = recs
        .iter()
        .take(3)
        .map(|(_, c)| c.replace('\n', " "))
        .collect();
    recs.push((
        "many.jsonl".into(),
        format!("{}\n{{not json\n{}\n", lines[0], lines[1..].join("\n")),
    ));
    recs.push(("broken.json".into(), "{\"id\": ".into()));
    let recs: Vec<(&str, &str)> = recs.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let m = manifest(dir.path(), &recs, "reports: [json, markdown, sarif]\n");
    let run = |name: &str, extra: &[&str]| {
        let out = dir.path().join(name);
        common::pff_run(&m, &out, extra).assert().code(3);
        out
    };
    let whole = run("whole", &["--max-workers", "1"]);
    let start = |out: &Path| -> serde_json::Value {
        serde_json::from_str(read(&out.join("events.jsonl")).lines().next().unwrap()).unwrap()
    };
    assert_eq!(start(&whole)["rules_in_memory"], true);
    let expected = outputs(&whole);
    assert!(expected.iter().any(|(f, _)| f == "rule-stats.txt"));
    assert!(
        expected.iter().any(|(f, _)| f == "report.sarif"),
        "{expected:?}"
    );
    for (name, batch, workers) in [("b1", "1", "1"), ("b3", "3", "2"), ("b7", "7", "2")] {
        let out = run(name, &["--rule-batch", batch, "--max-workers", workers]);
        assert_eq!(start(&out)["rules_in_memory"], false, "{name}");
        // The rule store and every temporary file are gone.
        assert!(leftovers(&out).is_empty(), "{name}: {:?}", leftovers(&out));
        let got = outputs(&out);
        assert_eq!(got.len(), expected.len(), "{name}");
        for ((f1, a), (f2, b)) in got.iter().zip(&expected) {
            assert_eq!(f1, f2);
            assert!(a == b, "{name}: {f1} differs");
        }
    }
}

#[test]
fn rules_filed_on_disk_keep_tasks_and_rule_chunks_within_bounds() {
    let (start, stop) = run_300_tasks("rule_batch: 4\n");
    assert_eq!(start["rules_in_memory"], false);
    assert!(start["rule_anchors"].as_u64().unwrap() > 1, "{start}");
    let max = stop["max_in_flight"].as_u64().unwrap();
    // As with rules in memory: 2 reads + input queue 2 + 1 in the worker + result queue 2 +
    // 1 being written.
    assert!((1..=8).contains(&max), "max in flight {max}");
    // One worker holds one chunk of at most 4 rules at a time, never the rule set.
    assert_eq!(stop["max_rule_batches"], 1);
}

#[test]
fn leftovers_of_a_killed_run_are_cleared() {
    let dir = TempDir::new().unwrap();
    let recs = sample_records();
    let recs: Vec<(&str, &str)> = recs.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let m = manifest(dir.path(), &recs, "rule_batch: 5\n");
    let out = dir.path().join("o");
    // What `kill -9` leaves: a rule store of a process that is gone, half-written files.
    let stale = out.join(".pff-rules-999999999-0");
    fs::create_dir_all(&stale).unwrap();
    fs::write(stale.join("data"), b"old").unwrap();
    fs::write(out.join(".pff-tmp-999999999-0-report.md.part"), b"half").unwrap();
    let (m, o) = (m.to_str().unwrap(), out.to_str().unwrap());
    pff_run(m, o, &[]).assert().code(1);
    assert!(leftovers(&out).is_empty(), "{:?}", leftovers(&out));
}

/// Rule stores and temporary files in an output folder.
fn leftovers(out: &Path) -> Vec<String> {
    fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".pff") && n != ".pff.lock")
        .collect()
}

/// `pff run` takes the severity options of `pff validate`, on the command line and in the
/// manifest: `--keep` changes what the task files hold, never the counts; `--fail-on` and the
/// cut points change the exit code and the severities, and `pff merge` reports with them.
#[test]
fn run_takes_the_severity_options_of_validate() {
    let dir = TempDir::new().unwrap();
    let recs = sample_records();
    let recs: Vec<(&str, &str)> = recs.iter().map(|(n, c)| (n.as_str(), c.as_str())).collect();
    let m = manifest(dir.path(), &recs, "keep: error\nerror_confidence: 0.99\n");
    let task = |out: &Path| -> serde_json::Value {
        serde_json::from_str(&read(&out.join("tasks/000005-CUST1005.json.json"))).unwrap()
    };
    let evidence = |t: &serde_json::Value| {
        t["records"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| !f["rules"].as_array().unwrap().is_empty())
            .count()
    };
    // From the manifest: errors only from 0.99, so fewer errors than the default 0.9 gives.
    let strict = dir.path().join("strict");
    pff_run(&m, &strict, &["--fail-on", "warning"])
        .assert()
        .code(1);
    let default = dir.path().join("default");
    pff_run(
        &m,
        &default,
        &["--error-confidence", "0.9", "--keep", "info"],
    )
    .assert()
    .code(1);
    let (s, d) = (task(&strict), task(&default));
    assert!(s["findings"]["error"].as_u64() < d["findings"]["error"].as_u64());
    assert_eq!(
        s["findings"]["error"].as_u64().unwrap() + s["findings"]["warning"].as_u64().unwrap(),
        d["findings"]["error"].as_u64().unwrap() + d["findings"]["warning"].as_u64().unwrap(),
        "the same findings, other cut points"
    );
    assert!(
        evidence(&s) < evidence(&d),
        "keep: error leaves out evidence"
    );
    assert_eq!(
        s["records"][0]["findings"].as_array().unwrap().len(),
        d["records"][0]["findings"].as_array().unwrap().len(),
        "the strongest findings are listed either way"
    );
    // --fail-on never: exit 0 whatever was found.
    pff_run(&m, dir.path().join("never"), &["--fail-on", "never"])
        .assert()
        .code(0);
    let bad = stderr_of_run(
        &m,
        &dir.path().join("bad"),
        &["--warning-confidence", "0.995"],
    );
    assert!(bad.contains("warning <= error"), "{bad}");
}

fn stderr_of_run(m: &Path, out: &Path, extra: &[&str]) -> String {
    let a = pff_run(m, out, extra).assert().code(2);
    String::from_utf8_lossy(&a.get_output().stderr).into_owned()
}

/// The predecessor's layout: `data/manifest.yaml` names `data/test.json`, run from the folder
/// above. The manifest's folder is tried first, then the working directory, and pff says so;
/// a source in neither is an error naming both places.
#[test]
fn task_sources_resolve_beside_the_manifest_then_in_the_working_directory() {
    let dir = TempDir::new().unwrap();
    let data = dir.path().join("data");
    fs::create_dir_all(&data).unwrap();
    fs::copy(
        root().join("data/records/CUST1001.json"),
        data.join("test.json"),
    )
    .unwrap();
    let m = data.join("manifest.yaml");
    fs::write(&m, "execution_id: p\ntasks:\n- msisdn: data/test.json\n").unwrap();
    let rules = root().join("data/rules.txt");
    let out = pff(&[
        "run",
        "data/manifest.yaml",
        "--rules",
        rules.to_str().unwrap(),
        "-o",
        "o",
    ])
    .current_dir(dir.path())
    .assert()
    .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("1 of 1 task sources were found in the working directory"),
        "{err}"
    );
    assert!(read(&dir.path().join("o/results.csv")).contains("data/test.json,"));
    fs::write(&m, "execution_id: p\ntasks:\n- msisdn: data/gone.json\n").unwrap();
    let out = pff(&[
        "run",
        "data/manifest.yaml",
        "--rules",
        rules.to_str().unwrap(),
    ])
    .current_dir(dir.path())
    .assert()
    .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("exists neither beside the manifest (data/data/gone.json) nor in the working directory (data/gone.json)"),
        "{err}"
    );
}

/// Every manifest problem at once, each located once (`file:line:column`), with "did you mean".
#[test]
fn manifest_problems_come_all_at_once_with_suggestions() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("a.json"), "{\"id\":\"K\"}").unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        "execution_id: x\nmax_wrokers: 3\nfail_on: eror\ntasks:\n- msisdn: a.json\n  sourc: a.json\n",
    )
    .unwrap();
    let out = pff(&["run", m.to_str().unwrap(), "--rules", "data/rules.txt"])
        .assert()
        .code(2);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(err.contains("has 3 problems"), "{err}");
    assert!(err.contains("m.yaml:2:1: unknown key `max_wrokers`; did you mean `max_workers`?"));
    assert!(
        err.contains("m.yaml:3:10: `fail_on`: unknown variant `eror`"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:6:3: unknown key `sourc`; did you mean `source`?"),
        "{err}"
    );
    assert!(!err.contains("column 10"), "{err}");
}

/// `pff generate` turns any text into a task list or a manifest that `pff run` takes.
#[test]
fn generate_makes_a_manifest_pff_runs() {
    let dir = TempDir::new().unwrap();
    let recs = dir.path().join("recs");
    fs::create_dir_all(&recs).unwrap();
    let rec = read(&root().join("data/records/CUST1001.json"));
    for k in ["5511999990001", "5521988887777"] {
        fs::write(recs.join(format!("{k}.json")), &rec).unwrap();
    }
    let text = "Lines to check: +5511999990001; 5521988887777.\nNot these: 021 3333-4444, 123.";
    let out = pff(&["generate", "-"]).write_stdin(text).assert().code(0);
    assert_eq!(
        String::from_utf8_lossy(&out.get_output().stdout),
        "5511999990001\n5521988887777\n"
    );
    let m = dir.path().join("m.yaml");
    let m_s = m.to_str().unwrap();
    pff(&[
        "generate",
        "-",
        "--manifest",
        "nightly",
        "--source",
        "recs/{msisdn}.json",
        "-o",
        m_s,
    ])
    .write_stdin(text)
    .assert()
    .code(0);
    let rules = root().join("data/rules.txt");
    pff_run(
        &m,
        dir.path().join("o"),
        &["--rules", rules.to_str().unwrap()],
    )
    .assert()
    .code(1);
    let csv = read(&dir.path().join("o/results.csv"));
    assert!(
        csv.contains("\n5511999990001,validate,") && csv.contains("\n5521988887777,validate,"),
        "{csv}"
    );
    pff(&["generate", "-"])
        .write_stdin("no numbers")
        .assert()
        .code(2);
}

/// The predecessor's manifests: without `execution_id` the run is `exec-YYYYmmddHHMM` (and a
/// resume continues the one in --output); a task's `payload:` is kept in its result.
#[test]
fn manifests_without_execution_id_and_with_payloads() {
    let dir = TempDir::new().unwrap();
    fs::copy(
        root().join("data/records/CUST1001.json"),
        dir.path().join("a.json"),
    )
    .unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        "tasks:\n- msisdn: a.json\n  payload:\n    ticket: 42\n    notes: [first, second]\n",
    )
    .unwrap();
    let rules = root().join("data/rules.txt");
    let out = dir.path().join("o");
    let run = pff(&[
        "run",
        m.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ])
    .assert()
    .code(1);
    let err = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(err.contains("running as exec-20"), "{err}");
    let summary: serde_json::Value =
        serde_json::from_str(&read(&out.join("summary.json"))).unwrap();
    let id = summary["execution_id"].as_str().unwrap().to_string();
    assert!(
        id.len() == "exec-YYYYmmddHHMM".len() && id.starts_with("exec-"),
        "{id}"
    );
    let task: serde_json::Value =
        serde_json::from_str(&read(&out.join("tasks/000000-a.json.json"))).unwrap();
    assert_eq!(
        task["payload"],
        serde_json::json!({"ticket": 42, "notes": ["first", "second"]})
    );
    // A resume takes the execution recorded in the folder, whatever the time now.
    pff_run(&m, &out, &["--rules", rules.to_str().unwrap(), "--resume"])
        .assert()
        .code(1);
    let err = String::from_utf8_lossy(
        &pff(&[
            "run",
            m.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--resume",
        ])
        .assert()
        .code(2)
        .get_output()
        .stderr,
    )
    .into_owned();
    assert!(err.contains("--resume needs the run's folder"), "{err}");
    // `payload: !file PATH`: the file's JSON (or text) is the payload.
    fs::write(dir.path().join("p.json"), "{\"k\": [1, 2]}").unwrap();
    fs::write(dir.path().join("note.txt"), "call back").unwrap();
    fs::write(
        &m,
        "execution_id: f\ntasks:\n- msisdn: a.json\n  payload: !file p.json\n- msisdn: b\n  source: a.json\n  payload: !file note.txt\n",
    )
    .unwrap();
    let out = dir.path().join("f");
    pff_run(&m, &out, &["--rules", rules.to_str().unwrap()])
        .assert()
        .code(1);
    let task = |name: &str| -> serde_json::Value {
        serde_json::from_str(&read(&out.join("tasks").join(name))).unwrap()
    };
    assert_eq!(
        task("000000-a.json.json")["payload"],
        serde_json::json!({"k": [1, 2]})
    );
    assert_eq!(task("000001-b.json")["payload"], "call back");
    fs::write(
        &m,
        "execution_id: f\ntasks:\n- msisdn: a.json\n  payload: !file gone.json\n",
    )
    .unwrap();
    let err = String::from_utf8_lossy(
        &pff(&[
            "run",
            m.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
        ])
        .assert()
        .code(2)
        .get_output()
        .stderr,
    )
    .into_owned();
    assert!(
        err.contains("m.yaml:4:3: payload file gone.json exists neither"),
        "{err}"
    );
}

/// `-v` prints the run's diagnostics; `--log FILE` appends them, with times.
#[test]
fn verbose_and_log_file_carry_the_diagnostics() {
    let dir = TempDir::new().unwrap();
    let log = dir.path().join("run.log");
    let out = pff_run(
        "manifests/smoke.yaml",
        dir.path().join("o"),
        &["-v", "--log", log.to_str().unwrap()],
    )
    .assert()
    .code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    for needle in [
        "manifest manifests/smoke.yaml: execution smoke, 12 tasks",
        "plan: ",
        "rules: 36 read",
        "12/12 tasks done",
    ] {
        assert!(err.contains(needle), "stderr lacks {needle}: {err}");
    }
    let text = read(&log);
    assert!(
        text.lines().any(|l| l.contains("12/12 tasks done")),
        "{text}"
    );
    let stamp: f64 = text.split_whitespace().next().unwrap().parse().unwrap();
    assert!(stamp > 1.7e9, "lines start with the time: {text}");
    // Without -v the diagnostics stay off the terminal.
    let quiet = pff_run("manifests/smoke.yaml", dir.path().join("o2"), &[])
        .assert()
        .code(1);
    assert!(!String::from_utf8_lossy(&quiet.get_output().stderr).contains("plan: "));
}

/// Every report of a run names a record by its task key (the MSISDN people search for), as
/// results.csv and the task files do.
#[test]
fn reports_name_records_by_their_task_key() {
    let dir = TempDir::new().unwrap();
    fs::copy(
        root().join("data/records/CUST1005.json"),
        dir.path().join("r.json"),
    )
    .unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: k\nrules: {}\nreports: [markdown, junit, sarif, human]\ntasks:\n- msisdn: '5511999990005'\n  source: r.json\n",
            root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    pff_run(&m, &out, &[]).assert().code(1);
    let key = "5511999990005";
    let task: serde_json::Value =
        serde_json::from_str(&read(&out.join(format!("tasks/000000-{key}.json")))).unwrap();
    assert_eq!(task["records"][0]["task"], key);
    assert!(read(&out.join("results.csv")).contains(&format!("\n{key},validate,ERRORS,")));
    let md = read(&out.join("report.md"));
    assert!(md.contains(&format!("| {key} `CUST1005` |")), "{md}");
    assert!(md.contains(&format!("### Record {key} `CUST1005`")), "{md}");
    let junit = read(&out.join("junit.xml"));
    assert!(
        junit.contains(&format!("testcase name=\"{key} (CUST1005)\"")),
        "{junit}"
    );
    let sarif = read(&out.join("report.sarif"));
    assert!(
        sarif.contains(&format!("\"text\":\"{key} (CUST1005): ")),
        "{sarif}"
    );
    let human = read(&out.join("report.txt"));
    assert!(
        human.contains(&format!("{key} (CUST1005) (line 1):")),
        "{human}"
    );
}

/// Records behind an API: a source template fills in each task's key (URL-encoded), headers
/// take `${VAR}` from the environment and the secret is written nowhere, `Retry-After` is
/// honoured, an API's refusal fails its task with the status and what the server said.
#[test]
fn records_from_an_api_with_a_template_headers_and_retry_after() {
    use std::sync::{Arc, Mutex};
    let rec = read(&root().join("data/records/CUST1001.json"));
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let log = seen.clone();
    let addr = common::http_server_with_request(60, move |path, _, req| {
        log.lock().unwrap().push(format!(
            "{path} {}",
            req.contains("authorization: Bearer s3cret-token")
        ));
        let ok = ("200 OK".to_string(), String::new(), rec.clone());
        Some(match path {
            "/lines/5511%20001" => ok,
            "/lines/busy" if !log_has(&log, "/lines/busy", 2) => (
                "429 Too Many Requests".into(),
                "Retry-After: 1\r\n".into(),
                "slow down".into(),
            ),
            "/lines/busy" => ok,
            _ => (
                "404 Not Found".into(),
                String::new(),
                "no such line: check the MSISDN".into(),
            ),
        })
    });
    fn log_has(log: &Arc<Mutex<Vec<String>>>, path: &str, n: usize) -> bool {
        log.lock()
            .unwrap()
            .iter()
            .filter(|l| l.starts_with(path))
            .count()
            >= n
    }
    let dir = TempDir::new().unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: api\nrules: {}\nsource_template: http://{addr}/lines/{{msisdn}}\nheaders:\n  Authorization: Bearer ${{PFF_TEST_TOKEN}}\nrate_limit: 50\nfetch_retries: 2\ntasks:\n- msisdn: '5511 001'\n- msisdn: busy\n- msisdn: gone\n",
            root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    let started = std::time::Instant::now();
    pff_run(&m, &out, &["--max-workers", "1"])
        .env("PFF_TEST_TOKEN", "s3cret-token")
        .assert()
        .code(3);
    let csv = read(&out.join("results.csv"));
    assert!(csv.contains("\n5511 001,validate,"), "{csv}");
    assert!(!csv.contains("5511 001,validate,FAILED"), "{csv}");
    assert!(
        !csv.contains("busy,validate,FAILED"),
        "retried after 429: {csv}"
    );
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(1),
        "Retry-After: 1 honoured"
    );
    let gone = csv.lines().find(|l| l.starts_with("gone,")).unwrap();
    assert!(
        gone.contains("HTTP 404 Not Found: no such line: check the MSISDN"),
        "{gone}"
    );
    assert!(
        seen.lock().unwrap().iter().all(|l| l.ends_with("true")),
        "every request authorised"
    );
    // The secret is in no file of the output folder.
    for (name, text) in outputs(&out)
        .into_iter()
        .chain([("events.jsonl".into(), read(&out.join("events.jsonl")))])
        .chain([("execution.json".into(), read(&out.join("execution.json")))])
    {
        assert!(!text.contains("s3cret"), "{name} holds the secret");
    }
    // A variable that is not set is named, with no value shown.
    let err = String::from_utf8_lossy(
        &pff_run(&m, dir.path().join("o2"), &[])
            .env_remove("PFF_TEST_TOKEN")
            .assert()
            .code(2)
            .get_output()
            .stderr,
    )
    .into_owned();
    assert!(
        err.contains("header `Authorization` uses ${PFF_TEST_TOKEN}, which is not set"),
        "{err}"
    );
}

/// An HTTPS server on 127.0.0.1 with a certificate of a private CA the test makes (rcgen);
/// it answers `record` to every request and stops by itself after 30 s. Returns its address
/// and the CA's PEM.
fn https_server(record: String) -> (std::net::SocketAddr, String) {
    use std::io::{Read, Write};
    use std::sync::Arc;
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca_params, ca_key);
    let leaf_params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()]).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).unwrap();
    let key = rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into());
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![leaf.der().clone()], key)
        .unwrap();
    let config = Arc::new(config);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            let Ok((tcp, _)) = listener.accept() else {
                std::thread::sleep(std::time::Duration::from_millis(5));
                continue;
            };
            let (config, record) = (config.clone(), record.clone());
            std::thread::spawn(move || {
                tcp.set_nonblocking(false).unwrap();
                let Ok(conn) = rustls::ServerConnection::new(config) else {
                    return;
                };
                let mut tls = rustls::StreamOwned::new(conn, tcp);
                let mut buf = [0u8; 4096];
                if tls.read(&mut buf).is_err() {
                    return; // the client refused the certificate
                }
                let _ = write!(
                    tls,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{record}",
                    record.len()
                );
                let _ = tls.flush();
                tls.conn.send_close_notify();
                let _ = tls.flush();
            });
        }
    });
    (addr, ca_cert.pem())
}

/// A private CA (`ca_bundle:`) is trusted besides the usual roots; without it the same server
/// is refused.
#[test]
fn a_private_certificate_authority_is_trusted_when_named() {
    let rec = read(&root().join("data/records/CUST1001.json"));
    let (addr, ca) = https_server(rec);
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("ca.pem"), ca).unwrap();
    let rules = root().join("data/rules.txt");
    let manifest = |extra: &str| {
        let m = dir.path().join("m.yaml");
        fs::write(
            &m,
            format!(
                "execution_id: tls\nrules: {}\n{extra}tasks:\n- msisdn: k\n  source: https://{addr}/r.json\n",
                rules.display()
            ),
        )
        .unwrap();
        m
    };
    let m = manifest("ca_bundle: ca.pem\n");
    pff_run(&m, dir.path().join("with"), &[]).assert().code(1);
    let csv = read(&dir.path().join("with/results.csv"));
    assert!(
        csv.contains("\nk,validate,ERRORS,") || csv.contains("\nk,validate,OK,"),
        "{csv}"
    );
    let m = manifest("fetch_retries: 0\n");
    pff_run(&m, dir.path().join("without"), &[])
        .assert()
        .code(3);
    let csv = read(&dir.path().join("without/results.csv"));
    assert!(
        csv.contains("\nk,validate,FAILED,") && csv.contains("cert"),
        "{csv}"
    );
    fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let m = manifest("ca_bundle: bad.pem\n");
    let out = pff_run(&m, dir.path().join("bad"), &[]).assert().code(2);
    assert!(String::from_utf8_lossy(&out.get_output().stderr).contains("holds no PEM certificate"));
}

#[test]
fn a_baseline_marks_findings_new_or_known_and_lists_the_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records();
    let named = common::named(&records);
    let m = manifest(dir.path(), &named, "reports: [json]\n");
    let a = dir.path().join("a");
    pff_run(&m, &a, &[]).assert().code(1);
    let summary_a: serde_json::Value =
        serde_json::from_str(&read(&a.join("summary.json"))).unwrap();
    let total = summary_a["findings"]["info"].as_u64().unwrap()
        + summary_a["findings"]["warning"].as_u64().unwrap()
        + summary_a["findings"]["error"].as_u64().unwrap();

    // The same records again: every finding is known, none new, none fixed; with
    // --fail-on-new the run passes although it still has error findings.
    let b = dir.path().join("b");
    let a_arg = a.to_str().unwrap();
    pff_run(&m, &b, &["--baseline", a_arg, "--fail-on-new"])
        .assert()
        .code(0);
    let s: serde_json::Value = serde_json::from_str(&read(&b.join("summary.json"))).unwrap();
    assert_eq!(s["baseline"]["known"].as_u64(), Some(total), "{s}");
    assert_eq!(s["baseline"]["fixed"].as_u64(), Some(0));
    assert_eq!(s["baseline"]["new"]["error"].as_u64(), Some(0));
    assert_eq!(read(&b.join("fixed.jsonl")), "");
    let report = read(&b.join("report.json"));
    assert!(report.contains("\"baseline\":\"known\""));
    assert!(!report.contains("\"baseline\":\"new\""), "nothing is new");

    // A task that fails tonight says nothing about its earlier findings: none is fixed.
    let broken: Vec<(&str, &str)> = named
        .iter()
        .enumerate()
        .map(|(i, &(n, c))| if i == 0 { (n, "{not json") } else { (n, c) })
        .collect();
    let m_broken = manifest(dir.path(), &broken, "reports: [json]\n");
    let f = dir.path().join("f");
    pff_run(&m_broken, &f, &["--baseline", a_arg])
        .assert()
        .code(3);
    let s: serde_json::Value = serde_json::from_str(&read(&f.join("summary.json"))).unwrap();
    assert_eq!(s["tasks_failed"].as_u64(), Some(1), "{s}");
    assert_eq!(s["baseline"]["fixed"].as_u64(), Some(0), "{s}");
    assert_eq!(read(&f.join("fixed.jsonl")), "");

    // One record's content swapped for another's: its old findings are fixed, its new
    // ones are new (a finding is its task's), the rest stay known; new errors fail the run.
    let swapped: Vec<(&str, &str)> = named
        .iter()
        .enumerate()
        .map(|(i, &(n, c))| if i == 0 { (n, named[1].1) } else { (n, c) })
        .collect();
    let m2 = manifest(dir.path(), &swapped, "reports: [json]\n");
    let c = dir.path().join("c");
    pff_run(&m2, &c, &["--baseline", a_arg]).assert().code(1);
    let s: serde_json::Value = serde_json::from_str(&read(&c.join("summary.json"))).unwrap();
    let fixed = s["baseline"]["fixed"].as_u64().unwrap();
    let known = s["baseline"]["known"].as_u64().unwrap();
    assert!(fixed > 0, "{s}");
    assert_eq!(known + fixed, total, "{s}");
    assert!(
        read(&c.join("report.json")).contains("\"baseline\":\"new\""),
        "{s}"
    );
    let lines = read(&c.join("fixed.jsonl"));
    assert_eq!(lines.lines().count() as u64, fixed);
    for line in lines.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(
            v["task"], named[0].0,
            "only the swapped task has fixed findings"
        );
    }

    // A new error fails the run under --fail-on-new too, and the reason says so.
    let err = stderr_of(
        &mut pff_run(
            &m2,
            dir.path().join("c2"),
            &["--baseline", a_arg, "--fail-on-new"],
        ),
        1,
    );
    assert!(
        err.contains("1 error findings") && err.contains("new against the baseline"),
        "{err}"
    );

    // A baseline checked with other rules does not compare: refused, naming the folder.
    let rules = read(&root().join("data/rules.txt"));
    let fewer: String = rules.lines().take(5).map(|l| format!("{l}\n")).collect();
    let other = write(&dir, "fewer.txt", fewer.as_bytes());
    let m3 = dir.path().join("m3.yaml");
    std::fs::write(
        &m3,
        read(&m).replace(&root().join("data/rules.txt").display().to_string(), &other),
    )
    .unwrap();
    let err = stderr_of(
        &mut pff_run(&m3, dir.path().join("d"), &["--baseline", a_arg]),
        2,
    );
    assert!(err.contains("other rules") && err.contains(a_arg), "{err}");
    // Not a pff output folder at all.
    let err = stderr_of(
        &mut pff_run(
            &m,
            dir.path().join("e"),
            &["--baseline", dir.path().to_str().unwrap()],
        ),
        2,
    );
    assert!(err.contains("not a pff output folder"), "{err}");
}

#[test]
fn a_baseline_named_in_the_manifest_is_found_beside_it_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let records = sample_records();
    let named = common::named(&records);
    let m = manifest(dir.path(), &named, "reports: [sarif]\n");
    let a = dir.path().join("a");
    pff_run(&m, &a, &[]).assert().code(1);
    // `baseline: a` resolves beside the manifest, not in the working directory (the
    // repository root); `fail_on_new: true` passes a run with only known errors.
    let m2 = manifest(
        dir.path(),
        &named,
        "reports: [sarif]\nbaseline: a\nfail_on_new: true\n",
    );
    let b = dir.path().join("b");
    let out = pff(&["run", m2.to_str().unwrap(), "-o", b.to_str().unwrap()])
        .assert()
        .code(0);
    let err = String::from_utf8_lossy(&out.get_output().stderr).into_owned();
    assert!(
        err.contains("against the baseline: 0 new (0 error, 0 warning, 0 info)"),
        "{err}"
    );
    let sarif = read(&b.join("report.sarif"));
    assert!(sarif.contains("\"baselineState\":\"unchanged\""), "{sarif}");
    assert!(!sarif.contains("\"baselineState\":\"new\""));
}
