//! What pff may do to an output folder and what it trusts in it: user files survive, the
//! folder is locked, task files are checked, merges never overwrite, what is read from disk is
//! checked like the command line, signals and panics end in exit codes. See RELIABILITY.md
//! ("Output folders").

mod common;

use std::fs;
use std::path::Path;
use std::time::{Duration, Instant};

use common::pff_run as run;
use common::{http_server, manifest, outputs, pff, read, root, sample_records, stderr_of};
use tempfile::TempDir;

fn samples() -> Vec<(String, String)> {
    sample_records()
}

fn as_refs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect()
}

#[test]
fn user_files_in_the_output_folder_survive_runs_and_fresh() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let out = dir.path().join("o");
    fs::create_dir_all(out.join("tasks")).unwrap();
    let mine = [
        "notes.tmp",
        "page.tmpl",
        "report.json",
        "report.txt",
        "tasks/todo.tmp",
        "tasks/mine.json",
        "tasks/000000-x.json.tmp1",
    ];
    for f in mine {
        fs::write(out.join(f), f).unwrap();
    }
    run(&m, &out, &[]).assert().code(1);
    run(&m, &out, &["--resume"]).assert().code(1);
    run(&m, &out, &["--fresh"]).assert().code(1);
    for f in mine {
        assert_eq!(read(&out.join(f)), f, "{f} was changed or removed");
    }
    // --fresh removed what the earlier execution wrote, and wrote it again.
    assert!(out.join("summary.json").is_file());
}

#[test]
fn a_file_pff_did_not_write_is_never_overwritten() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "reports: [markdown]\n");
    let out = dir.path().join("o");
    fs::create_dir_all(&out).unwrap();
    fs::write(out.join("report.md"), "my notes").unwrap();
    let err = stderr_of(&mut run(&m, &out, &[]), 2);
    assert!(
        err.contains("report.md") && err.contains("pff did not write"),
        "{err}"
    );
    assert_eq!(read(&out.join("report.md")), "my notes");
    // --fresh does not make it pff's either.
    stderr_of(&mut run(&m, &out, &["--fresh"]), 2);
    assert_eq!(read(&out.join("report.md")), "my notes");
}

#[test]
fn execution_ids_that_leave_the_output_folder_are_refused() {
    let dir = TempDir::new().unwrap();
    for id in ["..", "."] {
        fs::write(dir.path().join("r.json"), "{\"id\":\"K\"}").unwrap();
        let m = dir.path().join("m.yaml");
        fs::write(
            &m,
            format!(
                "execution_id: '{id}'\nrules: {}\ntasks:\n- msisdn: r.json\n",
                root().join("data/rules.txt").display()
            ),
        )
        .unwrap();
        let err = stderr_of(
            pff(&["run", m.to_str().unwrap(), "-q"]).current_dir(dir.path()),
            2,
        );
        assert!(err.contains("outside the output folder"), "{err}");
    }
    assert!(!dir.path().join("tasks").exists() && !dir.path().join("summary.json").exists());
}

#[test]
fn a_locked_folder_is_refused_naming_the_holder_and_a_stale_lock_is_taken_over() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let out = dir.path().join("o");
    fs::create_dir_all(&out).unwrap();
    let lock_path = out.join(".pff.lock");
    fs::write(
        &lock_path,
        "pid 4242\nhost elsewhere\ncommand pff run m.yaml\n",
    )
    .unwrap();
    let held = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&lock_path)
        .unwrap();
    held.lock().unwrap();
    for extra in [&[][..], &["--resume"], &["--fresh"]] {
        let err = stderr_of(&mut run(&m, &out, extra), 2);
        assert!(
            err.contains("in use by another pff") && err.contains("pid 4242"),
            "{err}"
        );
    }
    assert!(!out.join("execution.json").exists());
    // The holder is gone: its lock is stale and taken over.
    drop(held);
    run(&m, &out, &[]).assert().code(1);
    assert!(read(&lock_path).contains(&"pid ".to_string()));
    assert!(!read(&lock_path).contains("pid 4242"));
}

/// Shard folders 0..n of the sample manifest, run into `dir/s-K`.
fn shards(dir: &Path, m: &Path, n: u32) -> Vec<String> {
    (0..n)
        .map(|k| {
            let d = dir.join(format!("s-{k}"));
            let code = run(m, &d, &["--shard", &format!("{k}/{n}")])
                .output()
                .unwrap()
                .status
                .code();
            assert!(matches!(code, Some(0 | 1)), "shard {k}: {code:?}");
            d.to_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn merge_never_overwrites_a_run_a_shard_or_a_non_empty_folder() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let s = shards(dir.path(), &m, 2);
    let single = dir.path().join("single");
    run(&m, &single, &[]).assert().code(1);
    let before = outputs(&single);
    let merge = |o: &Path| {
        let mut args = vec!["merge"];
        args.extend(s.iter().map(String::as_str));
        args.extend(["-o", o.to_str().unwrap()]);
        pff(&args)
    };
    let err = stderr_of(&mut merge(&single), 2);
    assert!(err.contains("a run of execution `t`"), "{err}");
    assert_eq!(outputs(&single), before);
    let shard_dir = Path::new(&s[1]).to_path_buf();
    let shard_before = outputs(&shard_dir);
    let err = stderr_of(&mut merge(&shard_dir), 2);
    assert!(err.contains("shard 1/2"), "{err}");
    assert_eq!(outputs(&shard_dir), shard_before);
    let other = dir.path().join("other");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("keep.txt"), "x").unwrap();
    let err = stderr_of(&mut merge(&other), 2);
    assert!(err.contains("not empty (keep.txt)"), "{err}");
    // An earlier merge of the same shards is merged into again, with the same result.
    let merged = dir.path().join("merged");
    merge(&merged).assert().code(1);
    let first = outputs(&merged);
    merge(&merged).assert().code(1);
    assert_eq!(outputs(&merged), first);
}

#[test]
fn merge_checks_what_it_reads_from_disk() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let s = shards(dir.path(), &m, 2);
    let exec = Path::new(&s[0]).join("execution.json");
    let original = read(&exec);
    for (shard, want) in [
        ("{\"index\": 5, \"count\": 2}", "does not exist"),
        ("{\"index\": 0, \"count\": 0}", "1 to 65536 shards"),
        ("{\"index\": 0, \"count\": 4294967295}", "1 to 65536 shards"),
    ] {
        let mut v: serde_json::Value = serde_json::from_str(&original).unwrap();
        v["shard"] = serde_json::from_str(shard).unwrap();
        fs::write(&exec, v.to_string()).unwrap();
        let o = dir.path().join("o");
        let err = stderr_of(
            &mut pff(&["merge", &s[0], &s[1], "-o", o.to_str().unwrap()]),
            2,
        );
        assert!(
            err.contains(want) && err.contains("execution.json"),
            "{err}"
        );
    }
    fs::write(&exec, &original).unwrap();
    // A truncated task file and a task file of another task are named, not skipped.
    let tasks: Vec<_> = fs::read_dir(Path::new(&s[1]).join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert!(tasks.len() >= 2);
    let whole = read(&tasks[0]);
    fs::write(&tasks[0], &whole[..whole.len() / 2]).unwrap();
    fs::copy(&tasks[0], &tasks[1]).unwrap();
    fs::write(&tasks[1], read(&tasks[tasks.len() - 1])).unwrap();
    let o = dir.path().join("o2");
    let err = stderr_of(
        &mut pff(&["merge", &s[0], &s[1], "-o", o.to_str().unwrap()]),
        2,
    );
    let name = |p: &Path| p.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        err.contains("2 task files cannot be merged")
            && err.contains(&name(&tasks[0]))
            && err.contains(&name(&tasks[1])),
        "{err}"
    );
    // A task file that links elsewhere is not followed (nor copied).
    let secret = dir.path().join("secret.json");
    fs::write(&secret, &whole).unwrap();
    fs::remove_file(&tasks[0]).unwrap();
    std::os::unix::fs::symlink(&secret, &tasks[0]).unwrap();
    let err = stderr_of(
        &mut pff(&["merge", &s[0], &s[1], "-o", o.to_str().unwrap()]),
        2,
    );
    assert!(err.contains("links are not followed"), "{err}");
}

#[test]
fn resume_moves_aside_task_files_that_are_not_their_tasks_result_and_reruns_them() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let whole = dir.path().join("whole");
    run(&m, &whole, &[]).assert().code(1);
    let expected = outputs(&whole);
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(1);
    let mut tasks: Vec<_> = fs::read_dir(out.join("tasks"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    tasks.sort();
    let text = read(&tasks[0]);
    fs::write(&tasks[0], &text[..text.len() - 10]).unwrap();
    fs::copy(&tasks[2], &tasks[1]).unwrap();
    let resume = || {
        pff(&[
            "run",
            m.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--resume",
        ])
    };
    let err = stderr_of(&mut resume(), 1);
    for t in &tasks[..2] {
        let name = t.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            err.contains(&format!("{name} is not this task's result")),
            "{err}"
        );
    }
    let err = stderr_of(&mut resume(), 1);
    // Already repaired by the first resume: nothing is rejected twice.
    assert!(!err.contains("not this task's result"), "{err}");
    for t in &tasks[..2] {
        let aside = t.with_file_name(format!(
            "{}.rejected",
            t.file_name().unwrap().to_string_lossy()
        ));
        assert!(aside.is_file(), "{} was not moved aside", t.display());
    }
    let events = read(&out.join("events.jsonl"));
    assert_eq!(events.matches("task_file_rejected").count(), 2, "{events}");
    // Apart from the rejected copies, the outputs equal an uninterrupted run's.
    let got: Vec<_> = outputs(&out)
        .into_iter()
        .filter(|(f, _)| !f.ends_with(".rejected"))
        .collect();
    assert_eq!(got, expected);
}

#[test]
fn task_files_of_another_execution_are_not_trusted() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(1);
    // Another execution's folder with the same task names, copied in by mistake.
    let m2 = dir.path().join("m2.yaml");
    fs::write(&m2, read(&m).replace("execution_id: t", "execution_id: u")).unwrap();
    let other = dir.path().join("other");
    run(&m2, &other, &[]).assert().code(1);
    let first = fs::read_dir(other.join("tasks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let target = out.join("tasks").join(first.file_name().unwrap());
    fs::copy(&first, &target).unwrap();
    let err = stderr_of(
        &mut pff(&[
            "run",
            m.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--resume",
        ]),
        1,
    );
    assert!(err.contains("belongs to execution `u`"), "{err}");
}

#[test]
fn absurd_durations_and_sizes_are_refused_not_panics() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "task_time_budget_secs: 1e19\n");
    let out = dir.path().join("o");
    let err = stderr_of(&mut run(&m, &out, &[]), 2);
    assert!(
        err.contains("task_time_budget_secs") && err.contains("m.yaml:"),
        "{err}"
    );
    let m = manifest(dir.path(), &as_refs(&recs), "");
    for flags in [
        &["--time-budget", "1e300"][..],
        &["--time-budget", "NaN"],
        &["--memory-limit", "1e300G"],
        &["--memory-limit", "nan"],
    ] {
        let err = stderr_of(&mut run(&m, &out, flags), 2);
        assert!(!err.contains("panicked"), "{flags:?}: {err}");
    }
    let err = stderr_of(
        &mut pff(&[
            "validate",
            "data/records.jsonl",
            "-r",
            "data/rules.txt",
            "--time-budget",
            "1e300",
        ]),
        2,
    );
    assert!(err.contains("--time-budget"), "{err}");
}

#[test]
fn a_panicking_worker_fails_the_run_with_exit_2() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let out = dir.path().join("o");
    let victim = &recs[1].0;
    let err = stderr_of(
        run(&m, &out, &["--max-workers", "2"]).env("PFF_DEBUG_PANIC_TASK", victim),
        2,
    );
    assert!(
        err.contains("internal error") && err.contains(victim.as_str()),
        "{err}"
    );
    assert!(!err.contains("stack backtrace"), "{err}");
    // The other tasks' results stay; resume completes the execution.
    run(&m, &out, &["--resume"]).assert().code(1);
    let summary = read(&out.join("summary.json"));
    assert!(summary.contains("\"complete\": true"), "{summary}");
}

#[test]
fn files_without_newlines_are_refused_with_file_and_line() {
    let err = stderr_of(
        &mut pff(&["validate", "data/records.jsonl", "-r", "/dev/zero"]),
        2,
    );
    assert!(
        err.contains("/dev/zero:1:") && err.contains("longer than"),
        "{err}"
    );
    let err = stderr_of(
        &mut pff(&[
            "validate",
            "/dev/zero",
            "--input-format",
            "jsonl",
            "-r",
            "data/rules.txt",
        ]),
        2,
    );
    assert!(err.contains("/dev/zero") && err.contains("line 1"), "{err}");
    let err = stderr_of(
        &mut pff(&["triples", "/dev/zero", "--input-format", "tsv"]),
        2,
    );
    assert!(
        err.contains("/dev/zero:1:") && err.contains("longer than"),
        "{err}"
    );
}

#[test]
fn a_tiny_address_space_is_an_error_not_a_hang() {
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let started = Instant::now();
    // Just under pff's 32 MiB floor: lower, the loader itself fails to map the debug binary
    // (whose size grows with the code) before pff runs.
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -v 32000 && exec {} run manifests/smoke.yaml -q -o /nonexistent/x",
            bin.display()
        ))
        .current_dir(root())
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("ulimit -v"), "{err}");
    // A hang would have been killed by the test harness long before; this only documents it.
    assert!(started.elapsed() < Duration::from_secs(60));
}

#[test]
fn sigterm_while_the_final_outputs_are_written_stops_with_143() {
    let dir = TempDir::new().unwrap();
    let rec = r#"{"id":"K1","paymentContext":"Control","name":"x"}"#;
    let names: Vec<String> = (0..3000).map(|i| format!("r{i}.json")).collect();
    let recs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), rec)).collect();
    let m = manifest(
        dir.path(),
        &recs,
        "reports: [markdown, junit, sarif, json]\n",
    );
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(1);
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let events = out.join("events.jsonl");
    let mut stopped = 0;
    for _ in 0..20 {
        let starts = read(&events).matches("\"event\":\"start\"").count();
        // Nothing is pending: the resume goes straight to the final outputs.
        let child = std::process::Command::new(&bin)
            .args(["run", m.to_str().unwrap(), "-q", "--resume", "-o"])
            .arg(&out)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        while read(&events).matches("\"event\":\"start\"").count() == starts {
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let res = child.wait_with_output().unwrap();
        match res.status.code() {
            Some(143) => {
                let err = String::from_utf8_lossy(&res.stderr);
                assert!(err.contains("--resume"), "{err}");
                let last = read(&events).lines().last().unwrap().to_string();
                assert!(last.contains("\"signal\":15"), "{last}");
                // The signal may come after the last output was written: then all is there.
                if last.contains("\"final_outputs\":false") {
                    stopped += 1;
                    break;
                }
                assert!(read(&out.join("summary.json")).contains("\"complete\": true"));
            }
            // Finished before the signal arrived: try again.
            Some(1) => continue,
            other => panic!("exit {other:?}: {}", String::from_utf8_lossy(&res.stderr)),
        }
    }
    assert!(
        stopped > 0,
        "the signal never arrived during the final outputs"
    );
    run(&m, &out, &["--resume"]).assert().code(1);
    assert!(read(&out.join("summary.json")).contains("\"complete\": true"));
}

#[test]
fn sigterm_cancels_slow_fetches_without_retrying() {
    let dir = TempDir::new().unwrap();
    // A server that accepts and never answers.
    let addr = http_server(90, |_, _| None);
    let m = dir.path().join("m.yaml");
    let mut text = format!(
        "execution_id: t\nrules: {}\nfetch_timeout_secs: 60\nfetch_retries: 5\ntasks:\n",
        root().join("data/rules.txt").display()
    );
    for i in 0..4 {
        text.push_str(&format!(
            "- msisdn: 'k{i}'\n  source: http://{addr}/r{i}.json\n"
        ));
    }
    fs::write(&m, text).unwrap();
    let out = dir.path().join("o");
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let mut child = std::process::Command::new(&bin)
        .args(["run", m.to_str().unwrap(), "-q", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let events = out.join("events.jsonl");
    while !events.exists() || !read(&events).contains("\"event\":\"start\"") {
        std::thread::sleep(Duration::from_millis(5));
    }
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let code = child.wait().unwrap().code();
    assert_eq!(code, Some(143));
    // Retries would have taken minutes; a cancelled read ends at once.
    assert!(
        sent.elapsed() < Duration::from_secs(20),
        "{:?}",
        sent.elapsed()
    );
    // Cancelled tasks are not results: all four stay pending for --resume.
    assert_eq!(fs::read_dir(out.join("tasks")).unwrap().count(), 0);
}

#[test]
fn transient_failures_are_retried_by_resume_and_final_ones_are_not() {
    let dir = TempDir::new().unwrap();
    let rec = read(&root().join("data/records").join(&samples()[0].0));
    // First requests: 503 (transient) and 404 (final); from the third on, all well.
    let addr = http_server(60, move |path, n| {
        let ok = ("200 OK".to_string(), String::new(), rec.clone());
        match (path, n) {
            ("/busy.json", 0 | 1) => Some((
                "503 Service Unavailable".into(),
                String::new(),
                "busy".into(),
            )),
            ("/gone.json", 0 | 1) => Some(("404 Not Found".into(), String::new(), "no".into())),
            _ => Some(ok),
        }
    });
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: t\nrules: {}\nfetch_retries: 0\ntasks:\n- msisdn: busy\n  source: http://{addr}/busy.json\n- msisdn: gone\n  source: http://{addr}/gone.json\n",
            root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    run(&m, &out, &["--max-workers", "1"]).assert().code(3);
    let tasks = out.join("tasks");
    let busy = read(&tasks.join("000000-busy.json"));
    assert!(
        busy.contains("\"retryable\":true") && busy.contains("503"),
        "{busy}"
    );
    assert!(!read(&tasks.join("000001-gone.json")).contains("retryable"));
    run(&m, &out, &["--resume"]).assert().code(3);
    let csv = read(&out.join("results.csv"));
    assert!(
        csv.contains("busy,validate,ERRORS") || csv.contains("busy,validate,OK"),
        "{csv}"
    );
    assert!(csv.contains("gone,validate,FAILED"), "{csv}");
}

#[test]
fn merge_reads_the_manifest_kept_in_the_shards_and_equals_a_run_with_relative_rules() {
    // A Kubernetes ConfigMap: files are links through `..data` into a dated folder that is
    // replaced when the ConfigMap changes (and differs between pods).
    let dir = TempDir::new().unwrap();
    let cfg = dir.path().join("config");
    let dated = cfg.join("..2026_12_01_00_00_00.1");
    fs::create_dir_all(&dated).unwrap();
    fs::copy(root().join("data/rules.txt"), dated.join("rules.txt")).unwrap();
    let recs = samples();
    let data = dir.path().join("records");
    fs::create_dir_all(&data).unwrap();
    let mut text = "execution_id: k\nrules: rules.txt\nreports: [markdown]\ntasks:\n".to_string();
    for (name, body) in &recs {
        fs::write(data.join(name), body).unwrap();
        text.push_str(&format!(
            "- msisdn: {name}\n  source: {}\n",
            data.join(name).display()
        ));
    }
    fs::write(dated.join("m.yaml"), &text).unwrap();
    std::os::unix::fs::symlink("..2026_12_01_00_00_00.1", cfg.join("..data")).unwrap();
    std::os::unix::fs::symlink("..data/m.yaml", cfg.join("m.yaml")).unwrap();
    std::os::unix::fs::symlink("..data/rules.txt", cfg.join("rules.txt")).unwrap();
    let m = cfg.join("m.yaml");
    let single = dir.path().join("single");
    run(&m, &single, &[]).assert().code(1);
    let s = shards(dir.path(), &m, 3);
    let exec: serde_json::Value =
        serde_json::from_str(&read(&Path::new(&s[0]).join("execution.json"))).unwrap();
    assert_eq!(exec["manifest"], m.to_str().unwrap());
    // The ConfigMap is updated: the dated folder the shards saw is gone.
    let newer = cfg.join("..2026_12_02_00_00_00.2");
    fs::rename(&dated, &newer).unwrap();
    fs::remove_file(cfg.join("..data")).unwrap();
    std::os::unix::fs::symlink("..2026_12_02_00_00_00.2", cfg.join("..data")).unwrap();
    let merged = dir.path().join("merged");
    let mut args = vec!["merge"];
    args.extend(s.iter().map(String::as_str));
    args.extend(["-o", merged.to_str().unwrap()]);
    pff(&args).assert().code(1);
    for f in ["summary.json", "results.csv", "rule-stats.txt", "report.md"] {
        assert_eq!(read(&single.join(f)), read(&merged.join(f)), "{f}");
    }
    // Rule ids name the rules file the same way from any working directory.
    let elsewhere = dir.path().join("elsewhere");
    run(&m, &elsewhere, &[])
        .current_dir(dir.path())
        .assert()
        .code(1);
    assert_eq!(
        read(&single.join("summary.json")),
        read(&elsewhere.join("summary.json"))
    );
}

#[test]
fn links_in_the_output_folder_are_not_followed() {
    let dir = TempDir::new().unwrap();
    let recs = samples();
    let m = manifest(dir.path(), &as_refs(&recs), "");
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(1);
    let outside = dir.path().join("outside.log");
    fs::write(&outside, "keep").unwrap();
    fs::remove_file(out.join("events.jsonl")).unwrap();
    std::os::unix::fs::symlink(&outside, out.join("events.jsonl")).unwrap();
    stderr_of(&mut run(&m, &out, &["--resume"]), 2);
    assert_eq!(read(&outside), "keep");
    // `tasks` as a link to another folder is refused.
    let out2 = dir.path().join("o2");
    fs::create_dir_all(&out2).unwrap();
    let elsewhere = dir.path().join("elsewhere");
    fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, out2.join("tasks")).unwrap();
    let err = stderr_of(&mut run(&m, &out2, &[]), 2);
    assert!(err.contains("tasks is not a folder"), "{err}");
    assert_eq!(fs::read_dir(&elsewhere).unwrap().count(), 0);
}

#[test]
fn redirects_to_other_hosts_need_the_manifests_leave() {
    let rec = read(&root().join("data/records").join(&samples()[0].0));
    let target = http_server(30, move |_, _| {
        Some(("200 OK".into(), String::new(), rec.clone()))
    });
    let addr = http_server(30, move |_, _| {
        Some((
            "302 Found".into(),
            format!("Location: http://localhost:{}/r.json\r\n", target.port()),
            String::new(),
        ))
    });
    let dir = TempDir::new().unwrap();
    let m = dir.path().join("m.yaml");
    let text = |extra: &str| {
        format!(
            "execution_id: t\nrules: {}\n{extra}tasks:\n- msisdn: k\n  source: http://{addr}/r.json\n",
            root().join("data/rules.txt").display()
        )
    };
    fs::write(&m, text("")).unwrap();
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(3);
    let task = read(&out.join("tasks/000000-k.json"));
    assert!(
        task.contains("redirect to another host (localhost:"),
        "{task}"
    );
    fs::write(&m, text("fetch_redirect_hosts: [localhost]\n")).unwrap();
    let out = dir.path().join("o2");
    let code = run(&m, &out, &[]).output().unwrap().status.code();
    assert!(matches!(code, Some(0 | 1)), "{code:?}");
}

#[test]
fn local_sources_obey_the_size_limit() {
    let dir = TempDir::new().unwrap();
    let big = format!("{{\"id\":\"K\",\"pad\":\"{}\"}}", "x".repeat(70_000));
    let recs = samples();
    let mut all = as_refs(&recs);
    all.push(("big.json", big.as_str()));
    let m = manifest(dir.path(), &all, "fetch_max_bytes: 65536\n");
    let out = dir.path().join("o");
    run(&m, &out, &[]).assert().code(3);
    let csv = read(&out.join("results.csv"));
    let line = csv.lines().find(|l| l.starts_with("big.json")).unwrap();
    assert!(
        line.contains("FAILED") && line.contains("65536-byte limit"),
        "{line}"
    );
    assert_eq!(csv.matches("FAILED").count(), 1, "{csv}");
}

#[test]
fn results_csv_cells_are_never_formulas_or_control_characters() {
    let dir = TempDir::new().unwrap();
    fs::write(dir.path().join("r.json"), "{\"id\":\"K\"}").unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: t\nrules: {}\ntasks:\n- msisdn: \"=HYPERLINK(\\\"http://x\\\")\"\n  source: r.json\n- msisdn: \"a\\0b\"\n  source: r.json\n- msisdn: '+5511999990000'\n  source: r.json\n",
            root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("o");
    let code = run(&m, &out, &[]).output().unwrap().status.code();
    assert!(matches!(code, Some(0 | 1)), "{code:?}");
    let csv = fs::read(out.join("results.csv")).unwrap();
    assert!(!csv.contains(&0u8), "raw NUL in results.csv");
    let csv = String::from_utf8(csv).unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\""), "{csv}");
    assert!(csv.contains("a\u{fffd}b,"), "{csv}");
    assert!(csv.contains("\n+5511999990000,"), "{csv}");
}

/// Issue 22: signals reach the run as a stop request the command line passes in; a second
/// SIGINT quits at once with 130 (the first says so), never a hang, and what was written
/// stays good: the execution resumes to completion.
#[test]
fn a_second_sigint_quits_at_once_and_the_execution_resumes() {
    let dir = TempDir::new().unwrap();
    let rec = r#"{"id":"K1","paymentContext":"Control","name":"x"}"#;
    let names: Vec<String> = (0..3000).map(|i| format!("r{i}.json")).collect();
    let recs: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), rec)).collect();
    let m = manifest(dir.path(), &recs, "");
    let out = dir.path().join("o");
    let bin = assert_cmd::cargo::cargo_bin("pff");
    let child = std::process::Command::new(&bin)
        .args(["run", m.to_str().unwrap(), "--max-workers", "1", "-o"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let events = out.join("events.jsonl");
    for _ in 0..2000 {
        if events.exists() && read(&events).contains("task_done") {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for _ in 0..2 {
        let _ = std::process::Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status();
        std::thread::sleep(Duration::from_millis(1));
    }
    let res = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&res.stderr);
    // 130 whether the second signal quit the process or the first had already stopped it;
    // 1 only if the run finished before the first signal arrived.
    assert!(matches!(res.status.code(), Some(130) | Some(1)), "{err}");
    if res.status.code() == Some(130) {
        assert!(err.contains("signal again to quit at once"), "{err}");
    }
    run(&m, &out, &["--resume"]).assert().code(1);
    let summary = read(&out.join("summary.json"));
    assert!(summary.contains("\"complete\": true"), "{summary}");
    assert!(summary.contains("\"tasks_done\": 3000"), "{summary}");
}
