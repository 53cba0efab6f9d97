//! `pff learn` with a stand-in for Java (a shell script that behaves like AnyBURL): what pff
//! writes for AnyBURL, and how it judges and handles the child. The real AnyBURL runs in a
//! benchmark (`benches/learn.sh`), never in the tests: it is not redistributable.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::{pff, read, root, stderr_of};

/// A stand-in `java`: records its arguments, then acts as `$FAKE_MODE` says (`ok` by default:
/// writes the last snapshot named in SNAPSHOTS_AT with two rules, logs like AnyBURL and exits
/// with status 1, as AnyBURL 23-1 does after a normal run).
const FAKE_JAVA: &str = r##"#!/bin/sh
printf '%s\n' "$@" > args.txt
last=$(sed -n 's/^SNAPSHOTS_AT = //p' config-learn.properties | tr ',' '\n' | tail -n 1)
echo "reading params from file $5"
case "${FAKE_MODE:-ok}" in
  ok)
    printf '10\t9\t0.9\tstatus.status@current(X,On) <= product(A,X), status.status@current(A,On)\n5\t5\t1.0\tpaymentContext(X,Postpaid) <= contractSpecification(X,SPEC_POS)\n' > "rules-$last"
    echo ">>> stored 2 rules in 1ms"; exit 1 ;;
  fail) echo "Exception in thread main java.lang.OutOfMemoryError: Java heap space" >&2; exit 3 ;;
  empty) : > "rules-$last"; echo ">>> stored 0 rules in 1ms"; exit 1 ;;
  cut) printf '10\t9\t0.9\th(X,c) <= b(X,A)\n' > "rules-$last"; echo ">>> stored 7 rules in 1ms"; exit 1 ;;
  garbage) printf 'not a rule at all\n' > "rules-$last"; exit 0 ;;
  cross) printf '9\t9\t1.0\tdep(X,Y) <= flight(X,A), flight(B,A), dep(B,Y)\n' > "rules-$last"; echo ">>> stored 1 rules in 1ms"; exit 1 ;;
  none) exit 0 ;;
  sleep) echo $$ > child.pid; exec sleep 120 ;;
  late-signal)
    printf '5\t5\t1.0\tpaymentContext(X,Postpaid) <= contractSpecification(X,SPEC_POS)\n' > "rules-$last"
    echo ">>> stored 1 rules in 1ms"
    pff_pid=$PPID
    ( sleep 0.3; kill -TERM "$pff_pid" ) >/dev/null 2>&1 &
    exit 1 ;;
esac
"##;

struct Setup {
    dir: tempfile::TempDir,
    java: PathBuf,
    jar: PathBuf,
}

fn setup() -> Setup {
    let dir = tempfile::TempDir::new().unwrap();
    let java = dir.path().join("fake-java");
    fs::write(&java, FAKE_JAVA).unwrap();
    fs::set_permissions(&java, fs::Permissions::from_mode(0o755)).unwrap();
    let jar = dir.path().join("AnyBURL-test.jar");
    fs::write(&jar, b"not really a jar").unwrap();
    Setup { dir, java, jar }
}

impl Setup {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `pff learn data/train.jsonl -o OUT --work-dir WORK` with the stand-in.
    fn learn(&self, mode: &str, extra: &[&str]) -> assert_cmd::Command {
        self.learn_to("rules.txt", mode, extra)
    }

    /// The same, writing to `out` (a name in the setup's folder: a rule set without an
    /// extension).
    fn learn_to(&self, out: &str, mode: &str, extra: &[&str]) -> assert_cmd::Command {
        self.learn_from("data/train.jsonl", out, "work", mode, extra)
    }

    /// The same, learning from `input` with the work folder `work` (a name in the setup's
    /// folder: it must be new or empty).
    fn learn_from(
        &self,
        input: &str,
        out: &str,
        work: &str,
        mode: &str,
        extra: &[&str],
    ) -> assert_cmd::Command {
        let out = self.path(out);
        let work = self.path(work);
        let mut args = vec![
            "learn",
            input,
            "-o",
            out.to_str().unwrap(),
            "--work-dir",
            work.to_str().unwrap(),
            "-q",
        ];
        args.extend_from_slice(extra);
        let mut cmd = pff(&args);
        cmd.env("ANYBURL_JAR", &self.jar)
            .env("JAVA", &self.java)
            .env("FAKE_MODE", mode);
        cmd
    }
}

#[test]
fn writes_the_triples_the_configuration_and_the_checked_rules() {
    let s = setup();
    s.learn(
        "ok",
        &[
            "--mapping",
            "tmf",
            "--name-key",
            "charSpecExternalId",
            "--time",
            "120",
            "--snapshots",
            "30,60",
            "--threads",
            "3",
            "--memory-limit",
            "1G",
            "--set",
            "SAMPLE_SIZE=500",
        ],
    )
    .assert()
    .code(0);
    let work = s.path("work");
    // The training triples are exactly what `pff triples` writes under the same mapping.
    let triples = pff(&[
        "triples",
        "data/train.jsonl",
        "--mapping",
        "tmf",
        "--name-key",
        "charSpecExternalId",
    ])
    .assert()
    .code(0)
    .get_output()
    .stdout
    .clone();
    assert_eq!(fs::read(work.join("triples.tsv")).unwrap(), triples);
    assert!(String::from_utf8_lossy(&triples).contains("\tcharacteristic:clientCategory\t"));
    let config = read(&work.join("config-learn.properties"));
    for line in [
        "PATH_TRAINING = triples.tsv",
        "SNAPSHOTS_AT = 30,60,120",
        "WORKER_THREADS = 3",
        "SAMPLE_SIZE = 500",
    ] {
        assert!(config.contains(line), "{line} not in\n{config}");
    }
    let args = read(&work.join("args.txt"));
    let args: Vec<&str> = args.lines().collect();
    assert_eq!(args[0], "-Xmx870M");
    assert_eq!(args[1..3], ["-cp", s.jar.to_str().unwrap()]);
    assert_eq!(
        args[3..],
        ["de.unima.ki.anyburl.Learn", "config-learn.properties"]
    );
    // The snapshot's rules, in order, with confidences counted on the data: the sample
    // records have no status histories (the first rule never applies); the second holds.
    let rules = read(&s.path("rules.txt"));
    let snapshot = read(&work.join("rules-120"));
    let text = |t: &str| -> Vec<String> {
        t.lines()
            .map(|l| l.rsplit('\t').next().unwrap().to_string())
            .collect()
    };
    assert_eq!(text(&rules), text(&snapshot));
    assert!(
        rules.lines().next().unwrap().starts_with("0\t0\t0.0\t"),
        "{rules}"
    );
    let second: Vec<&str> = rules.lines().nth(1).unwrap().split('\t').collect();
    assert!(second[0].parse::<u64>().unwrap() > 20, "{rules}");
    // Confidence = correct / (predicted + 5), AnyBURL's unseen negative examples.
    let (p, c): (f64, f64) = (second[0].parse().unwrap(), second[1].parse().unwrap());
    assert!(c > 0.9 * p, "{rules}");
    assert_eq!(second[2].parse::<f64>().unwrap(), c / (p + 5.0), "{rules}");
    // The learned rules check records under the same mapping.
    pff(&[
        "validate",
        "data/records/CUST1000.json",
        "--rules",
        s.path("rules.txt").to_str().unwrap(),
        "--mapping",
        "tmf",
        "--name-key",
        "charSpecExternalId",
        "--fail-on",
        "never",
    ])
    .assert()
    .code(0);
}

#[test]
fn anyburl_confidence_keeps_the_snapshot_as_it_is() {
    let s = setup();
    s.learn("ok", &["--anyburl-confidence", "--time", "50"])
        .assert()
        .code(0);
    assert_eq!(
        fs::read(s.path("rules.txt")).unwrap(),
        fs::read(s.path("work/rules-50")).unwrap()
    );
}

#[test]
fn a_temporary_work_folder_is_removed_after_a_success() {
    let s = setup();
    let tmp = s.path("tmp");
    fs::create_dir(&tmp).unwrap();
    let out = s.path("r.txt");
    let mut cmd = pff(&[
        "learn",
        "data/train.jsonl",
        "-o",
        out.to_str().unwrap(),
        "-q",
    ]);
    cmd.env("ANYBURL_JAR", &s.jar)
        .env("JAVA", &s.java)
        .env("TMPDIR", &tmp);
    cmd.assert().code(0);
    assert!(out.is_file());
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn bad_data_stops_before_anyburl_and_leaves_no_temporary_folder() {
    let s = setup();
    let tmp = s.path("tmp");
    fs::create_dir(&tmp).unwrap();
    let data = common::write(&s.dir, "bad.jsonl", b"{\"id\":\"a\"}\n{not json\n");
    let out = s.path("r.txt");
    let mut cmd = pff(&["learn", &data, "-o", out.to_str().unwrap(), "-q"]);
    cmd.env("ANYBURL_JAR", &s.jar)
        .env("JAVA", &s.java)
        .env("TMPDIR", &tmp);
    let err = stderr_of(&mut cmd, 2);
    assert!(err.contains("bad.jsonl:2:"), "{err}");
    assert!(!out.exists());
    assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
}

#[test]
fn missing_jar_or_java_are_clear_errors() {
    let s = setup();
    let mut cmd = s.learn("ok", &[]);
    cmd.env_remove("ANYBURL_JAR");
    let err = stderr_of(&mut cmd, 2);
    assert!(
        err.contains("--anyburl") && err.contains("ANYBURL_JAR"),
        "{err}"
    );
    let err = stderr_of(&mut s.learn("ok", &["--anyburl", "/nonexistent/a.jar"]), 2);
    assert!(err.contains("/nonexistent/a.jar does not exist"), "{err}");
    let err = stderr_of(&mut s.learn("ok", &["--java", "/nonexistent/java"]), 2);
    assert!(err.contains("no Java") && err.contains("--java"), "{err}");
    assert!(!s.path("rules.txt").exists());
}

#[test]
fn a_failed_child_shows_its_log_and_writes_nothing() {
    let s = setup();
    let err = stderr_of(&mut s.learn("fail", &[]), 2);
    assert!(err.contains("AnyBURL failed (exit status: 3)"), "{err}");
    assert!(err.contains("OutOfMemoryError"), "{err}");
    assert!(!s.path("rules.txt").exists());
}

#[test]
fn empty_cut_short_or_unreadable_snapshots_are_refused() {
    for (mode, says) in [
        ("empty", "learned no rule"),
        ("cut", "AnyBURL failed"),
        ("garbage", "does not read as rules"),
        ("none", "wrote no rules"),
    ] {
        let s = setup();
        let err = stderr_of(&mut s.learn(mode, &[]), 2);
        assert!(err.contains(says), "{mode}: {err}");
        assert!(!s.path("rules.txt").exists(), "{mode}");
    }
}

#[test]
fn existing_rules_and_busy_work_folders_are_never_overwritten() {
    let s = setup();
    fs::write(s.path("rules.txt"), "mine").unwrap();
    let err = stderr_of(&mut s.learn("ok", &[]), 2);
    assert!(err.contains("--force"), "{err}");
    assert_eq!(read(&s.path("rules.txt")), "mine");
    fs::create_dir(s.path("work")).unwrap();
    fs::write(s.path("work/keep.txt"), "x").unwrap();
    let err = stderr_of(&mut s.learn("ok", &["--force"]), 2);
    assert!(err.contains("not empty"), "{err}");
    fs::remove_file(s.path("work/keep.txt")).unwrap();
    s.learn("ok", &["--force"]).assert().code(0);
    assert!(read(&s.path("rules.txt")).contains("paymentContext"));
}

#[test]
fn bad_options_are_refused_before_anything_runs() {
    let s = setup();
    let err = stderr_of(&mut s.learn("ok", &["--set", "PATH_TRAINING=x"]), 2);
    assert!(err.contains("pff writes this setting itself"), "{err}");
    let err = stderr_of(
        &mut s.learn("ok", &["--time", "60", "--snapshots", "90"]),
        2,
    );
    assert!(err.contains("90 is not before --time"), "{err}");
    // A time AnyBURL would overflow on (its Java stack trace) is refused by pff.
    let err = stderr_of(&mut s.learn("ok", &["--time", "18446744073709551615"]), 2);
    assert!(err.contains("1..=2592000"), "{err}");
    assert!(!s.path("work").exists() || fs::read_dir(s.path("work")).unwrap().count() == 0);
}

/// A stop signal to pff reaches AnyBURL, which is waited for; nothing is written.
#[test]
fn sigterm_is_passed_on_to_the_child() {
    let s = setup();
    let out = s.path("rules.txt");
    let work = s.path("work");
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("pff"))
        .current_dir(root())
        .env("PFF_CACHE_DIR", s.path("cache"))
        .args(["learn", "data/train.jsonl", "-q", "-o"])
        .arg(&out)
        .arg("--work-dir")
        .arg(&work)
        .env("ANYBURL_JAR", &s.jar)
        .env("JAVA", &s.java)
        .env("FAKE_MODE", "sleep")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = work.join("child.pid");
    let fake = wait_for_pid(&pid_file);
    // SAFETY: signals to processes this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    // Without the signal passed on, pff would wait for the stand-in's two minutes.
    let mut status = None;
    for _ in 0..600 {
        status = child.try_wait().unwrap();
        if status.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let Some(status) = status else {
        let _ = child.kill();
        unsafe { libc::kill(fake, libc::SIGKILL) };
        panic!("pff did not stop its child");
    };
    assert_eq!(status.code(), Some(143));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("interrupted"), "{err}");
    assert!(!out.exists());
    // The stand-in is gone (a zombie at most until reaped by its parent, which has exited).
    std::thread::sleep(Duration::from_millis(200));
    let alive = unsafe { libc::kill(fake, 0) } == 0 && !is_zombie(fake);
    assert!(!alive, "the child {fake} still runs");
}

fn wait_for_pid(p: &Path) -> i32 {
    for _ in 0..200 {
        if let Some(pid) = fs::read_to_string(p)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("the stand-in never started");
}

fn is_zombie(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| s.split(") ").nth(1).is_some_and(|r| r.starts_with('Z')))
        .unwrap_or(true)
}

/// A signal that arrives after AnyBURL has ended (during the recount) still stops pff with
/// 143, and nothing is written.
#[test]
fn a_signal_after_anyburl_ended_writes_nothing() {
    let s = setup();
    let mut cmd = s.learn("late-signal", &["--time", "1"]);
    cmd.env("PFF_DEBUG_LEARN_PAUSE_MS", "1500");
    let err = stderr_of(&mut cmd, 143);
    assert!(err.contains("nothing was written"), "{err}");
    assert!(!s.path("rules.txt").exists());
}

/// An output that cannot be written is found before learning, not after `--time` seconds.
#[test]
fn an_unwritable_output_is_refused_before_learning() {
    let s = setup();
    let out = s.path("no-such-folder/rules.txt");
    let work = s.path("work");
    let mut cmd = pff(&[
        "learn",
        "data/train.jsonl",
        "-o",
        out.to_str().unwrap(),
        "--work-dir",
        work.to_str().unwrap(),
        "-q",
    ]);
    cmd.env("ANYBURL_JAR", &s.jar).env("JAVA", &s.java);
    let err = stderr_of(&mut cmd, 2);
    assert!(err.contains("no-such-folder"), "{err}");
    assert!(!work.join("args.txt").exists(), "AnyBURL ran");
}

/// Issue 23: a rule set carries its encoding and cut points. `pff learn -o DIR` records the
/// encoding and where the rules came from, `pff calibrate` records its cut points, and
/// `validate` and `run` with nothing but the rule set check exactly as with every flag; a
/// flag that contradicts the encoding is refused, naming both.
#[test]
fn a_rule_set_carries_its_encoding_and_cut_points() {
    let s = setup();
    let set = s.path("tmf-ruleset");
    let set_s = set.to_str().unwrap();
    s.learn_to(
        "tmf-ruleset",
        "ok",
        &["--mapping", "tmf", "--name-key", "charSpecExternalId"],
    )
    .assert()
    .code(0);
    let info = |set: &Path| -> serde_json::Value {
        serde_json::from_str(&read(&set.join("ruleset.json"))).unwrap()
    };
    let i = info(&set);
    assert_eq!(i["format"], "pff-ruleset");
    assert_eq!(i["encoding"]["mapping"], "tmf", "{i}");
    assert_eq!(i["encoding"]["name_key"], "charSpecExternalId");
    assert_eq!(i["learned"]["data"], "data/train.jsonl");
    assert_eq!(i["learned"]["anyburl"], "AnyBURL-test.jar");
    assert!(i["learned"]["triples"].as_u64().unwrap() > 0);
    assert!(i["severities"].is_null());
    assert!(set.join("rules.txt").is_file());

    // Calibration records its cut points in the rule set.
    let out = pff(&["calibrate", "data/train.jsonl", "--rules", set_s])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let printed = String::from_utf8(out.stdout).unwrap();
    let cut = |k: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{k}: ")))
            .unwrap()
            .to_string()
    };
    let (e, w) = (cut("error_confidence"), cut("warning_confidence"));
    let i = info(&set);
    assert_eq!(i["severities"]["error_confidence"].to_string(), e, "{i}");
    assert_eq!(i["severities"]["reference"], "data/train.jsonl");

    // Nothing but the rule set == every flag by hand.
    let rules_txt = set.join("rules.txt");
    let report = |args: &[&str]| {
        let out = pff(args).output().unwrap();
        assert!(out.status.code().is_some_and(|c| c <= 1), "{out:?}");
        out.stdout
    };
    let bare = report(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        set_s,
        "-f",
        "json",
    ]);
    let flagged = report(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        rules_txt.to_str().unwrap(),
        "--mapping",
        "tmf",
        "--name-key",
        "charSpecExternalId",
        "--error-confidence",
        &e,
        "--warning-confidence",
        &w,
        "-f",
        "json",
    ]);
    assert_eq!(bare, flagged);
    // A flag that says the same is fine; one that contradicts is refused, naming both.
    report(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        set_s,
        "--mapping",
        "tmf",
    ]);
    for (flag, value) in [
        ("--mapping", "plain"),
        ("--name-key", "name"),
        ("--id-key", "x"),
    ] {
        let err = stderr_of(
            &mut pff(&[
                "validate",
                "data/records.jsonl",
                "--rules",
                set_s,
                flag,
                value,
            ]),
            2,
        );
        assert!(
            err.contains(&format!("{flag} {value} contradicts the rule set"))
                && err.contains("--mapping tmf --name-key charSpecExternalId"),
            "{err}"
        );
    }

    // `pff run` with a manifest naming the rule set uses its encoding (recorded in
    // execution.json) and cut points; a manifest key that contradicts it is refused.
    let m = s.path("m.yaml");
    let rec = root().join("data/records/CUST1001.json");
    fs::write(
        &m,
        format!(
            "execution_id: t\nrules: {set_s}\ntasks:\n- msisdn: {}\n",
            rec.display()
        ),
    )
    .unwrap();
    let out = s.path("out");
    let ran = pff(&[
        "run",
        m.to_str().unwrap(),
        "-q",
        "-o",
        out.to_str().unwrap(),
    ])
    .output()
    .unwrap();
    assert!(matches!(ran.status.code(), Some(0 | 1)), "{ran:?}");
    let exec: serde_json::Value = serde_json::from_str(&read(&out.join("execution.json"))).unwrap();
    assert!(
        exec["mapping"]
            .as_str()
            .unwrap()
            .starts_with("tmf name_key=charSpecExternalId"),
        "{exec}"
    );
    assert_eq!(exec["checks"]["severity"]["error"].to_string(), e, "{exec}");
    fs::write(
        &m,
        format!(
            "execution_id: t\nrules: {set_s}\nmapping: nested\ntasks:\n- msisdn: {}\n",
            rec.display()
        ),
    )
    .unwrap();
    let err = stderr_of(
        &mut pff(&[
            "run",
            m.to_str().unwrap(),
            "-q",
            "-o",
            s.path("out2").to_str().unwrap(),
        ]),
        2,
    );
    assert!(
        err.contains("mapping: nested contradicts the rule set"),
        "{err}"
    );
}

/// Issue 24: a rule set records whether shapes were on, and checking with it uses them.
#[test]
fn a_rule_set_records_shapes() {
    let s = setup();
    let set = s.path("shaped");
    let set_s = set.to_str().unwrap();
    s.learn_to("shaped", "ok", &["--shapes"]).assert().code(0);
    let info: serde_json::Value = serde_json::from_str(&read(&set.join("ruleset.json"))).unwrap();
    assert_eq!(info["encoding"]["shapes"], true, "{info}");
    // The shapes went into AnyBURL's training triples.
    assert!(read(&s.path("work/triples.tsv")).contains('‹'));
    let out = |args: &[&str]| pff(args).output().unwrap().stdout;
    let rules_txt = set.join("rules.txt");
    assert_eq!(
        out(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            set_s,
            "-f",
            "json"
        ]),
        out(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            rules_txt.to_str().unwrap(),
            "--shapes",
            "-f",
            "json"
        ])
    );
}

/// Issue 24: a rule set learned with `--one-graph` records it, and checking with it checks
/// the file as one graph.
#[test]
fn a_rule_set_records_one_graph() {
    let s = setup();
    let set = s.path("joined");
    s.learn_to("joined", "ok", &["--one-graph"])
        .assert()
        .code(0);
    let info: serde_json::Value = serde_json::from_str(&read(&set.join("ruleset.json"))).unwrap();
    assert_eq!(info["encoding"]["one_graph"], true, "{info}");
    let out = |args: &[&str]| pff(args).output().unwrap().stdout;
    let rules_txt = set.join("rules.txt");
    let with_set = out(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        set.to_str().unwrap(),
        "-f",
        "json",
    ]);
    let with_flag = out(&[
        "validate",
        "data/records.jsonl",
        "--rules",
        rules_txt.to_str().unwrap(),
        "--one-graph",
        "-f",
        "json",
    ]);
    assert!(!with_set.is_empty());
    assert_eq!(with_set, with_flag);
    // A rule set learned record by record refuses `--one-graph`, naming both.
    let apart = s.path("apart");
    pff(&[
        "rules",
        "import",
        rules_txt.to_str().unwrap(),
        "-o",
        apart.to_str().unwrap(),
    ])
    .assert()
    .code(0);
    let err = stderr_of(
        &mut pff(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            apart.to_str().unwrap(),
            "--one-graph",
        ]),
        2,
    );
    assert!(err.contains("--one-graph true contradicts"), "{err}");
}

/// `pff learn --one-graph` recounts a rule through other rows over the whole file, as checking
/// with the rule set sees it: `dep(X,Y) <= flight(X,A), flight(B,A), dep(B,Y)` on three rows of
/// one flight (two say 7:10, one 7:15) predicts 5 head tuples, 2 of them right (confidence
/// 2 / (5 + 5 unseen negatives), as pff counts it); record by record it never fires.
#[test]
fn learning_as_one_graph_counts_rules_through_other_rows() {
    let s = setup();
    let data = s.path("t.jsonl");
    fs::write(
        &data,
        "{\"_row\":\"1\",\"flight\":\"F1\",\"dep\":\"7:10\"}\n\
         {\"_row\":\"2\",\"flight\":\"F1\",\"dep\":\"7:10\"}\n\
         {\"_row\":\"3\",\"flight\":\"F1\",\"dep\":\"7:15\"}\n\
         {\"_row\":\"4\",\"flight\":\"F2\",\"dep\":\"8:00\"}\n",
    )
    .unwrap();
    let learn = |out: &str, extra: &[&str]| {
        let mut args = vec!["--id-key", "_row"];
        args.extend_from_slice(extra);
        let work = format!("work-{out}");
        s.learn_from(data.to_str().unwrap(), out, &work, "cross", &args)
            .assert()
            .code(0);
        read(&s.path(out).join("rules.txt"))
    };
    let joined = learn("joined", &["--one-graph"]);
    assert!(
        joined.starts_with("5\t2\t0.2\tdep(X,Y) <= flight(X,A), flight(B,A), dep(B,Y)"),
        "{joined}"
    );
    let apart = learn("apart", &[]);
    assert!(!apart.starts_with("5\t2\t"), "{apart}");
}

/// `pff learn -o DIR` replaces only a rule set pff made (with --force), never another folder;
/// `pff rules import` makes a rule set from a rules file, refusing an existing target, and
/// checking with it equals checking with its flags.
#[test]
fn rule_set_folders_are_only_ever_pffs_own() {
    let s = setup();
    let mine = s.path("mine");
    fs::create_dir(&mine).unwrap();
    fs::write(mine.join("notes.txt"), "keep me").unwrap();
    let err = stderr_of(&mut s.learn_to("mine", "ok", &["--force"]), 2);
    assert!(err.contains("not a rule set pff made"), "{err}");
    assert_eq!(read(&mine.join("notes.txt")), "keep me");

    let set = s.path("imported");
    let set_s = set.to_str().unwrap();
    let rules = root().join("data/rules.txt");
    let r = rules.to_str().unwrap();
    let import = |out: &str| {
        pff(&["rules", "import", r, "-o", out, "--mapping", "nested"])
            .output()
            .unwrap()
    };
    assert!(import(set_s).status.success());
    let info: serde_json::Value = serde_json::from_str(&read(&set.join("ruleset.json"))).unwrap();
    assert_eq!(info["encoding"]["mapping"], "nested", "{info}");
    assert!(
        info["imported"][1].as_str().unwrap().starts_with("fnv1a:"),
        "{info}"
    );
    assert_eq!(read(&set.join("rules.txt")), read(&rules));
    assert_eq!(import(set_s).status.code(), Some(2));
    let out = |args: &[&str]| pff(args).output().unwrap().stdout;
    assert_eq!(
        out(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            set_s,
            "-f",
            "json",
            "--fail-on",
            "never"
        ]),
        out(&[
            "validate",
            "data/records.jsonl",
            "--rules",
            set.join("rules.txt").to_str().unwrap(),
            "--mapping",
            "nested",
            "-f",
            "json",
            "--fail-on",
            "never"
        ])
    );
}

/// Issue 23: the rules `pff learn` writes are compiled into the cache, so the first `validate`
/// with them starts without parsing them; and `pff rules compile` does the same for any rules.
#[test]
fn learned_rules_are_compiled_into_the_cache() {
    let s = setup();
    let cache = s.path("cache");
    s.learn_to("set", "ok", &[])
        .env("PFF_CACHE_DIR", &cache)
        .assert()
        .code(0);
    let entries = || -> Vec<_> {
        std::fs::read_dir(cache.join("rules"))
            .map(|d| d.map(|e| e.unwrap().file_name()).collect())
            .unwrap_or_default()
    };
    assert_eq!(entries().len(), 1, "{:?}", entries());
    let set = s.path("set");
    let validate = |extra: &[&str]| {
        let mut args = vec![
            "validate",
            "data/records.jsonl",
            "--rules",
            set.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.extend(["-f", "json", "--fail-on", "never"]);
        let out = pff(&args).env("PFF_CACHE_DIR", &cache).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        out.stdout
    };
    assert_eq!(validate(&[]), validate(&["--no-cache"]));
    // `pff rules compile` with another filter makes another entry; the same one adds none.
    for _ in 0..2 {
        pff(&[
            "rules",
            "compile",
            set.to_str().unwrap(),
            "--min-confidence",
            "0.5",
        ])
        .env("PFF_CACHE_DIR", &cache)
        .assert()
        .code(0);
    }
    assert_eq!(entries().len(), 2, "{:?}", entries());
    assert_eq!(
        validate(&["--min-confidence", "0.5"]),
        validate(&["--min-confidence", "0.5", "--no-cache"])
    );
}
