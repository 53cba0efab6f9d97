//! `pff run --shard K/N` and `pff merge`: N shards merged equal one unsharded run.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

mod common;
use common::{pff, pff_run, read, root};

/// 36 tasks: the 12 sample records three times under different ids, with reports.
fn manifest(dir: &Path) -> PathBuf {
    let rules = root().join("data/rules.txt");
    let mut m = format!(
        "execution_id: sharded\nrules: {}\nreports: [markdown, junit, sarif, json]\ntasks:\n",
        rules.display()
    );
    let mut names: Vec<_> = fs::read_dir(root().join("data/records"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    for k in 0..3 {
        for p in &names {
            let stem = p.file_stem().unwrap().to_string_lossy();
            m.push_str(&format!(
                "- msisdn: {stem}-{k}\n  source: {}\n",
                p.display()
            ));
        }
    }
    let p = dir.join("m.yaml");
    fs::write(&p, m).unwrap();
    p
}

const OUTPUTS: &[&str] = &[
    "results.csv",
    "summary.json",
    "rule-stats.txt",
    "report.md",
    "junit.xml",
    "report.sarif",
    "report.json",
];

#[test]
fn merged_shards_equal_a_single_run_for_1_3_and_7_shards() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    let m = m.to_str().unwrap();
    let single = dir.path().join("single");
    pff_run(m, &single, &[]).assert().code(1);
    for n in [1u32, 3, 7] {
        let mut shard_dirs = Vec::new();
        let mut covered = 0;
        for k in 0..n {
            let d = dir.path().join(format!("s{n}-{k}"));
            let code = pff_run(m, &d, &["--shard", &format!("{k}/{n}")])
                .output()
                .unwrap()
                .status
                .code();
            assert!(matches!(code, Some(0) | Some(1)), "shard {k}/{n}: {code:?}");
            covered += fs::read_dir(d.join("tasks")).unwrap().count();
            shard_dirs.push(d.to_str().unwrap().to_string());
        }
        assert_eq!(covered, 36, "{n} shards cover every task exactly once");
        let merged = dir.path().join(format!("merged{n}"));
        let mut args = vec!["merge"];
        args.extend(shard_dirs.iter().map(String::as_str));
        args.extend(["-o", merged.to_str().unwrap()]);
        pff(&args).assert().code(1);
        for f in OUTPUTS {
            assert_eq!(
                read(&single.join(f)),
                read(&merged.join(f)),
                "{n} shards: {f}"
            );
        }
    }
}

#[test]
fn merged_shards_against_a_baseline_equal_a_single_run_against_it() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    let m = m.to_str().unwrap();
    let base = dir.path().join("base");
    pff_run(m, &base, &[]).assert().code(1);
    let b = base.to_str().unwrap();
    let single = dir.path().join("single");
    pff_run(m, &single, &["--baseline", b, "--fail-on-new"])
        .assert()
        .code(0);
    let mut args = vec!["merge".to_string()];
    for k in 0..2 {
        let d = dir.path().join(format!("s{k}"));
        pff_run(m, &d, &["--shard", &format!("{k}/2")])
            .output()
            .unwrap();
        args.push(d.to_str().unwrap().to_string());
    }
    let merged = dir.path().join("merged");
    args.extend(["-o", merged.to_str().unwrap(), "--baseline", b].map(String::from));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Every finding is known: without --fail-on-new the errors fail the merge, with it not.
    pff(&args).assert().code(1);
    let merged2 = dir.path().join("merged2");
    let mut args2 = args.clone();
    let at = args2
        .iter()
        .position(|a| *a == merged.to_str().unwrap())
        .unwrap();
    args2[at] = merged2.to_str().unwrap();
    args2.push("--fail-on-new");
    pff(&args2).assert().code(0);
    // The verdict is recorded with the totals: compare runs judged the same way.
    for f in ["summary.json", "report.json", "report.sarif", "fixed.jsonl"] {
        assert_eq!(read(&single.join(f)), read(&merged2.join(f)), "{f}");
    }
    let s: serde_json::Value = serde_json::from_str(&read(&merged.join("summary.json"))).unwrap();
    assert_eq!(s["baseline"]["fixed"], 0, "{s}");
    assert!(s["baseline"]["known"].as_u64() > Some(0), "{s}");
}

#[test]
fn merge_refuses_missing_duplicate_and_foreign_shards() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    let m = m.to_str().unwrap();
    let shard = |k: u32, n: u32| {
        let d = dir.path().join(format!("s{k}of{n}"));
        let _ = pff_run(m, &d, &["--shard", &format!("{k}/{n}")]).output();
        d.to_str().unwrap().to_string()
    };
    let (a, b, c) = (shard(0, 3), shard(1, 3), shard(2, 3));
    let out = dir.path().join("o");
    let o = out.to_str().unwrap();
    let err = |args: &[&str]| {
        let a = pff(args).assert().code(2);
        String::from_utf8_lossy(&a.get_output().stderr).to_string()
    };
    assert!(err(&["merge", &a, &c, "-o", o]).contains("shard 1/3 missing"));
    assert!(err(&["merge", &a, &a, &b, &c, "-o", o]).contains("given twice"));
    let other = shard(0, 2);
    assert!(err(&["merge", &a, &b, &other, "-o", o]).contains("one of 3"));
    // A different execution id.
    let m2 = dir.path().join("m2.yaml");
    fs::write(
        &m2,
        read(Path::new(m)).replace("execution_id: sharded", "execution_id: other"),
    )
    .unwrap();
    let foreign = dir.path().join("foreign");
    let _ = pff_run(&m2, &foreign, &["--shard", "2/3"]).output();
    assert!(
        err(&["merge", &a, &b, foreign.to_str().unwrap(), "-o", o]).contains("execution `other`")
    );
    // Different rules.
    let rules2 = dir.path().join("rules2.txt");
    fs::write(
        &rules2,
        read(&root().join("data/rules.txt")).replace("0.9", "0.8"),
    )
    .unwrap();
    let other_rules = dir.path().join("other-rules");
    let _ = pff_run(
        m,
        &other_rules,
        &["--shard", "2/3", "--rules", rules2.to_str().unwrap()],
    )
    .output();
    assert!(
        err(&["merge", &a, &b, other_rules.to_str().unwrap(), "-o", o]).contains("other rules")
    );
    assert!(
        err(&["merge", dir.path().to_str().unwrap(), "-o", o]).contains("not a pff output folder")
    );
    pff(&["merge", &a, &b, &c, "-o", o]).assert().code(1);
}

#[test]
fn shard_index_from_the_orchestrator() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    for (var, k) in [("JOB_COMPLETION_INDEX", "1"), ("SLURM_ARRAY_TASK_ID", "2")] {
        let mut cmd = pff(&[
            "run",
            m.to_str().unwrap(),
            "-q",
            "--shard",
            "auto/3",
            "--dry-run",
        ]);
        cmd.env(var, k);
        cmd.assert().code(0);
        let mut cmd = pff(&["run", m.to_str().unwrap(), "-q", "--shard", "auto/3"]);
        cmd.current_dir(dir.path()).env(var, k);
        let _ = cmd.output();
        assert!(
            dir.path()
                .join(format!("out/sharded/shard-{k}-of-3/summary.json"))
                .exists()
        );
    }
    let a = pff(&["run", m.to_str().unwrap(), "--shard", "auto/3"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("JOB_COMPLETION_INDEX"));
    let a = pff(&["run", m.to_str().unwrap(), "--shard", "3/3"])
        .assert()
        .code(2);
    assert!(String::from_utf8_lossy(&a.get_output().stderr).contains("K runs from 0 to 2"));
}

#[test]
fn deploy_examples_parse() {
    // Kubernetes: every document is YAML with the fields an Indexed Job needs.
    let text = read(&root().join("deploy/kubernetes/pff-indexed-job.yaml"));
    let docs: Vec<serde_json::Value> = text
        .split("\n---\n")
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("bad YAML: {e}\n{d}")))
        .collect();
    let job = docs
        .iter()
        .find(|d| d["kind"] == "Job" && d["spec"]["completionMode"] == "Indexed")
        .expect("an Indexed Job");
    let n = job["spec"]["completions"].as_u64().unwrap();
    assert!(job["spec"]["parallelism"].as_u64().unwrap() <= n);
    let args = job["spec"]["template"]["spec"]["containers"][0]["args"].to_string();
    assert!(args.contains(&format!("auto/{n}")), "{args}");
    assert!(docs.iter().any(|d| d["kind"] == "ConfigMap"));
    // Slurm: the array script is valid shell.
    let script = root().join("deploy/slurm/pff-array.sh");
    let st = std::process::Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(st.success());
    let text = read(&script);
    assert!(text.contains("#SBATCH --array=0-") && text.contains("--shard auto/"));
}

/// Runs `m` (with `extra` arguments) as `n` shards into `<dir>/<name>-s<k>` and merges them into `<dir>/<name>-merged`;
/// the merged folder.
fn shards_merged(m: &Path, dir: &Path, name: &str, n: u32, extra: &[&str]) -> PathBuf {
    let mut shard_dirs = Vec::new();
    for k in 0..n {
        let d = dir.join(format!("{name}-s{k}"));
        let shard = format!("{k}/{n}");
        let mut args = vec!["--shard", shard.as_str()];
        args.extend_from_slice(extra);
        let code = pff_run(m, &d, &args).output().unwrap().status.code();
        assert!(matches!(code, Some(0) | Some(1)), "shard {k}/{n}: {code:?}");
        shard_dirs.push(d.to_str().unwrap().to_string());
    }
    let merged = dir.join(format!("{name}-merged"));
    let mut args = vec!["merge"];
    args.extend(shard_dirs.iter().map(String::as_str));
    args.extend(["-o", merged.to_str().unwrap()]);
    pff(&args).assert().code(1);
    merged
}

/// The same 36 tasks from a `tasks_file` (CSV with sources, a key a line with a template, JSON
/// Lines) give the outputs of the inline manifest, alone, resumed and as merged shards.
#[test]
fn a_tasks_file_runs_resumes_and_merges_like_inline_tasks() {
    let dir = TempDir::new().unwrap();
    let inline = manifest(dir.path());
    let single = dir.path().join("single");
    pff_run(&inline, &single, &[]).assert().code(1);
    let text = read(&inline);
    let (head, list) = text.split_once("tasks:\n").unwrap();
    let tasks: Vec<(String, String)> = list
        .split("- msisdn: ")
        .filter(|t| !t.is_empty())
        .map(|t| {
            let (key, src) = t.split_once("\n  source: ").unwrap();
            (key.to_string(), src.trim().to_string())
        })
        .collect();
    assert_eq!(tasks.len(), 36);
    let csv: String = std::iter::once("msisdn,source\n".to_string())
        .chain(tasks.iter().map(|(k, s)| format!("{k},{s}\n")))
        .collect();
    fs::write(dir.path().join("tasks.csv"), csv).unwrap();
    let jsonl: String = tasks
        .iter()
        .map(|(k, s)| format!("{}\n", serde_json::json!({"msisdn": k, "source": s})))
        .collect();
    fs::write(dir.path().join("tasks.jsonl"), jsonl).unwrap();
    for file in ["tasks.csv", "tasks.jsonl"] {
        let m = dir.path().join(format!("{file}.yaml"));
        // The execution id and reports as inline, the tasks from the file.
        fs::write(&m, format!("{head}tasks_file: {file}\n")).unwrap();
        let out = dir.path().join(format!("out-{file}"));
        pff_run(&m, &out, &[]).assert().code(1);
        for f in OUTPUTS {
            assert_eq!(read(&single.join(f)), read(&out.join(f)), "{file}: {f}");
        }
        // Shards of it merge into the same outputs.
        let merged = shards_merged(&m, dir.path(), file, 3, &[]);
        for f in OUTPUTS {
            assert_eq!(
                read(&single.join(f)),
                read(&merged.join(f)),
                "{file} merged: {f}"
            );
        }
    }
    // A key a line, sources from the template: a task file removed is rerun by --resume.
    let records = root().join("data/records");
    let keys: String = fs::read_dir(&records)
        .unwrap()
        .map(|e| {
            e.unwrap()
                .path()
                .file_stem()
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .map(|k| format!("{k}\n"))
        .collect();
    fs::write(dir.path().join("keys.txt"), format!("# the sample\n{keys}")).unwrap();
    let m = dir.path().join("keys.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: keys\nrules: {}\nsource_template: {}/{{msisdn}}.json\ntasks_file: keys.txt\n",
            root().join("data/rules.txt").display(),
            records.display()
        ),
    )
    .unwrap();
    let out = dir.path().join("keys-out");
    pff_run(&m, &out, &[]).assert().code(1);
    let csv = read(&out.join("results.csv"));
    assert_eq!(csv.lines().count(), 13, "{csv}");
    let first = fs::read_dir(out.join("tasks"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    fs::remove_file(&first).unwrap();
    pff_run(&m, &out, &["--resume"]).assert().code(1);
    assert_eq!(read(&out.join("results.csv")), csv);
}

/// `--tasks FILE` replaces the manifest's tasks; the execution records it: a resume without it
/// is refused, and the shards of a run with it merge into the outputs of one run.
#[test]
fn tasks_on_the_command_line_are_recorded_for_resume_and_merge() {
    let dir = TempDir::new().unwrap();
    let records = root().join("data/records");
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: cli-tasks\nrules: {}\nsource_template: {}/{{msisdn}}.json\n\
             reports: [json]\ntasks:\n- msisdn: CUST1000\n",
            root().join("data/rules.txt").display(),
            records.display()
        ),
    )
    .unwrap();
    let list = dir.path().join("tonight.txt");
    let keys: String = (0..12).map(|i| format!("CUST{}\n", 1000 + i)).collect();
    fs::write(&list, keys).unwrap();
    let tasks = list.to_str().unwrap();
    let single = dir.path().join("single");
    pff_run(&m, &single, &["--tasks", tasks]).assert().code(1);
    assert_eq!(read(&single.join("results.csv")).lines().count(), 13);
    // Resuming without the list would run other tasks: refused, saying why.
    let err = common::stderr_of(&mut pff_run(&m, &single, &["--resume"]), 2);
    assert!(err.contains("--tasks"), "{err}");
    pff_run(&m, &single, &["--resume", "--tasks", tasks])
        .assert()
        .code(1);
    let merged = shards_merged(&m, dir.path(), "cli", 2, &["--tasks", tasks]);
    for f in ["results.csv", "summary.json", "report.json"] {
        assert_eq!(read(&single.join(f)), read(&merged.join(f)), "{f}");
    }
}

/// A tasks file is read again by every pass of a run, never held: one edited while the run
/// works stops it with exit 2 and a message that names the file and says to `--resume`; the
/// task files written stay, and the resume (with the file as it now is) completes the run.
#[test]
fn a_tasks_file_edited_during_the_run_stops_it_and_resume_completes() {
    let dir = TempDir::new().unwrap();
    let keys = dir.path().join("keys.txt");
    fs::write(&keys, "a\nb\nc\n").unwrap();
    let body = read(&root().join("data/records/CUST1005.json"));
    let edited = keys.clone();
    // The first request edits the list before it is answered.
    let addr = common::http_server(60, move |_, n| {
        if n == 0 {
            fs::write(&edited, "a\nb\nc\nd\n").unwrap();
        }
        Some(("200 OK".into(), String::new(), body.clone()))
    });
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: edited\nrules: {}\nsource_template: http://{addr}/lines/{{msisdn}}\n\
             tasks_file: keys.txt\n",
            root().join("data/rules.txt").display()
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    let err = common::stderr_of(&mut pff_run(&m, &out, &[]), 2);
    assert!(
        err.contains(&format!(
            "the tasks file {} changed while pff was using it",
            keys.display()
        )),
        "{err}"
    );
    assert!(err.contains("--resume"), "{err}");
    assert!(
        !out.join("results.csv").exists(),
        "no final output from a changed list"
    );
    pff_run(&m, &out, &["--resume"]).assert().code(1);
    let csv = read(&out.join("results.csv"));
    let keys: Vec<&str> = csv.lines().skip(1).map(|l| &l[..1]).collect();
    assert_eq!(keys, ["a", "b", "c", "d"], "{csv}");
}

/// Issue 22: a merge rebuilds every setting from the shards' `execution.json` (their command
/// line's cut points, `--keep`, `--fail-on`, reports): it equals the unsharded run given the
/// same flags, without repeating them.
#[test]
fn a_merge_takes_its_settings_from_the_shards_records() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    let flags = [
        "--error-confidence",
        "0.5",
        "--warning-confidence",
        "0.3",
        "--keep",
        "info",
        "--fail-on",
        "error",
        "--format",
        "jsonl",
    ];
    let single = dir.path().join("single");
    pff_run(&m, &single, &flags).assert().code(1);
    let merged = shards_merged(&m, dir.path(), "flags", 3, &flags);
    for f in OUTPUTS.iter().chain(&["report.jsonl"]) {
        assert_eq!(read(&single.join(f)), read(&merged.join(f)), "{f}");
    }
    let spec: serde_json::Value =
        serde_json::from_str(&read(&merged.join("execution.json"))).unwrap();
    assert_eq!(spec["checks"]["severity"]["error"], 0.5);
    assert_eq!(spec["checks"]["keep"], "info");
    assert_eq!(spec["merged_from"], 3);
}

/// Issue 22: a resume runs with the settings the execution recorded; other check settings
/// are refused, naming both, instead of mixing two settings in one execution.
#[test]
fn a_resume_with_other_check_settings_is_refused() {
    let dir = TempDir::new().unwrap();
    let m = manifest(dir.path());
    let out = dir.path().join("out");
    pff_run(&m, &out, &["--max-violations", "3"])
        .assert()
        .code(1);
    let err = common::stderr_of(
        &mut pff_run(&m, &out, &["--resume", "--max-violations", "5"]),
        2,
    );
    assert!(
        err.contains("--max-violations 3") && err.contains("--max-violations 5"),
        "{err}"
    );
    pff_run(&m, &out, &["--resume", "--max-violations", "3"])
        .assert()
        .code(1);
}
