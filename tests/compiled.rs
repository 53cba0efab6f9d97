//! Issue 23: compiled rule sets — `pff validate` compiles a large rules file once into the
//! cache and later calls read it without parsing; the reports are the same bytes either way;
//! a damaged or cut cache entry is detected; processes filling the cache at once agree.

use std::fs;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

mod common;
use common::{pff, read, root};

/// A rules file over 1 MiB (the sample rules, many times: each line its own rule id).
fn big_rules(dir: &Path) -> PathBuf {
    let text = read(&root().join("data/rules.txt"));
    let p = dir.join("big.rules");
    fs::write(&p, text.repeat(1 + (1 << 20) / text.len())).unwrap();
    p
}

/// `pff validate` of the sample records against `rules` with the cache in `cache`: (exit
/// code, JSON report, stderr).
fn validate(rules: &Path, cache: &Path, extra: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "validate",
        "data/records.jsonl",
        "--rules",
        rules.to_str().unwrap(),
        "-f",
        "json",
        "--fail-on",
        "never",
    ];
    args.extend_from_slice(extra);
    let out = pff(&args).env("PFF_CACHE_DIR", cache).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The cache's entries (compiled rule sets by digest), without temporary folders.
fn entries(cache: &Path) -> Vec<PathBuf> {
    let Ok(dir) = fs::read_dir(cache.join("rules")) else {
        return Vec::new();
    };
    let mut v: Vec<PathBuf> = dir.map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

#[test]
fn a_compiled_rule_set_gives_the_same_report_as_its_text() {
    let dir = TempDir::new().unwrap();
    let rules = big_rules(dir.path());
    let cache = dir.path().join("cache");
    let text = validate(&rules, &cache, &["--no-cache"]);
    assert_eq!(text.0, 0, "{}", text.2);
    assert!(entries(&cache).is_empty(), "--no-cache wrote a cache entry");
    let first = validate(&rules, &cache, &[]);
    assert_eq!(entries(&cache).len(), 1, "{:?}", entries(&cache));
    let warm = validate(&rules, &cache, &[]);
    assert_eq!(first.1, text.1);
    assert_eq!(warm.1, text.1);
    assert_eq!((first.0, warm.0), (0, 0));
    // The same rules under another name: the same entry, and rule ids with the name given.
    let renamed = dir.path().join(".").join("big.rules");
    let other = validate(&renamed, &cache, &[]);
    assert_eq!(entries(&cache).len(), 1, "{:?}", entries(&cache));
    assert_eq!(other.1, validate(&renamed, &cache, &["--no-cache"]).1);
    assert!(
        other.1.contains("/./big.rules:"),
        "rule ids name the file as given"
    );
    // Small rules files are read as text: nothing is compiled for them.
    let small = dir.path().join("small");
    let (code, ..) = validate(&root().join("data/rules.txt"), &small, &[]);
    assert_eq!(code, 0);
    assert!(entries(&small).is_empty());
}

#[test]
fn a_cut_or_changed_cache_entry_is_never_trusted() {
    let dir = TempDir::new().unwrap();
    let rules = big_rules(dir.path());
    let cache = dir.path().join("cache");
    let text = validate(&rules, &cache, &["--no-cache"]);
    validate(&rules, &cache, &[]);
    let entry = entries(&cache).pop().unwrap();
    // A cut data file or a changed index: the entry is moved aside and compiled again.
    for (file, damage) in [("data", 0usize), ("index", 1)] {
        let p = entry.join("store").join(file);
        let mut bytes = fs::read(&p).unwrap();
        if damage == 0 {
            bytes.truncate(bytes.len() / 2);
        } else {
            bytes[5] ^= 0x40;
        }
        fs::write(&p, &bytes).unwrap();
        let again = validate(&rules, &cache, &[]);
        assert_eq!(again.1, text.1, "{}", again.2);
        assert!(
            fs::read_dir(cache.join("rules")).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".bad-")),
            "the damaged entry was not set aside"
        );
    }
    // A byte changed inside each rule record (its length kept): the record's checksum refuses
    // it when it is read, and the message says what to do.
    let p = entry.join("store").join("data");
    let mut bytes = fs::read(&p).unwrap();
    let mut at = 0;
    while at + 8 < bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        bytes[at + 6] ^= 0x20;
        at += len;
    }
    fs::write(&p, &bytes).unwrap();
    let damaged = validate(&rules, &cache, &[]);
    assert_eq!(damaged.0, 2, "{}", damaged.2);
    assert!(
        damaged.2.contains("damaged") && damaged.2.contains("--no-cache"),
        "{}",
        damaged.2
    );
}

#[test]
fn processes_filling_the_cache_at_once_agree() {
    let dir = TempDir::new().unwrap();
    let rules = big_rules(dir.path());
    let cache = dir.path().join("cache");
    let text = validate(&rules, &cache, &["--no-cache"]);
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (rules, cache) = (rules.clone(), cache.clone());
            std::thread::spawn(move || validate(&rules, &cache, &[]))
        })
        .collect();
    for r in runs {
        let (code, report, err) = r.join().unwrap();
        assert_eq!(code, 0, "{err}");
        assert_eq!(report, text.1);
    }
    let names: Vec<String> = entries(&cache)
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names.len(),
        1,
        "one entry, no temporary folder left: {names:?}"
    );
}

/// `pff run` reads a large rule set from the cache too (its `--rule-batch` store is the
/// compiled one): the same outputs as with the text, and `--no-cache` writes nothing there.
#[test]
fn a_run_reads_the_compiled_rules_and_gives_the_same_outputs() {
    let dir = TempDir::new().unwrap();
    let rules = big_rules(dir.path());
    let cache = dir.path().join("cache");
    let m = dir.path().join("m.yaml");
    let mut text = format!("execution_id: c\nrules: {}\ntasks:\n", rules.display());
    for name in ["CUST1001", "CUST1005", "CUST1009"] {
        let rec = root().join(format!("data/records/{name}.json"));
        text.push_str(&format!("- msisdn: {name}\n  source: {}\n", rec.display()));
    }
    fs::write(&m, text).unwrap();
    let run = |out: &str, extra: &[&str]| {
        let out = dir.path().join(out);
        let done = common::pff_run(&m, &out, extra)
            .env("PFF_CACHE_DIR", &cache)
            .output();
        let code = done.unwrap().status.code();
        assert!(matches!(code, Some(0) | Some(1)), "{code:?}");
        out
    };
    let plain = run("plain", &["--no-cache"]);
    assert!(entries(&cache).is_empty(), "--no-cache wrote a cache entry");
    let compiled = run("compiled", &[]);
    assert_eq!(entries(&cache).len(), 1);
    for f in ["results.csv", "summary.json", "rule-stats.txt"] {
        assert_eq!(read(&plain.join(f)), read(&compiled.join(f)), "{f}");
    }
}

/// `--dry-run` says how many tasks a run may hold at once.
#[test]
fn a_dry_run_says_the_tasks_in_flight() {
    let out = pff(&["run", "manifests/smoke.yaml", "--dry-run"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("tasks in flight)"), "{text}");
}
