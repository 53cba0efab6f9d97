//! `pff learn`: the round trip from records to rules in one command. The training triples of
//! the data under the chosen mapping, an AnyBURL configuration written from pff's options,
//! AnyBURL run as a child process (Java), and its last snapshot checked by pff's own rule
//! parser before it becomes the rules file.
//!
//! AnyBURL is not shipped with pff (it is not redistributable): the user names its jar.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// AnyBURL's learning entry point.
pub const LEARN_CLASS: &str = "de.unima.ki.anyburl.Learn";
/// The names pff gives the files in the work folder (AnyBURL runs in it).
pub const TRIPLES_FILE: &str = "triples.tsv";
pub const CONFIG_FILE: &str = "config-learn.properties";
pub const LOG_FILE: &str = "anyburl.log";
/// AnyBURL writes snapshot `t` of its rules to `<PATH_OUTPUT>-<t>`.
pub const RULES_PREFIX: &str = "rules";

/// What AnyBURL is asked to learn: the options pff writes into its configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct LearnOptions {
    /// Seconds of learning (AnyBURL's clock starts once the triples are loaded).
    pub time_secs: u64,
    /// Earlier snapshots, in seconds, kept in the work folder.
    pub snapshots: Vec<u64>,
    pub threads: usize,
    pub max_length_cyclic: u32,
    pub max_length_acyclic: u32,
    pub zero_rules: bool,
    /// Correct predictions a rule needs (`THRESHOLD_CORRECT_PREDICTIONS`).
    pub min_correct: u64,
    /// Correct predictions a rule without body atoms needs.
    pub min_correct_zero: u64,
    /// Confidence a rule needs (`THRESHOLD_CONFIDENCE`).
    pub min_confidence: f64,
    /// Any other AnyBURL setting, written as given.
    pub extra: Vec<(String, String)>,
}

/// Why learning failed.
#[derive(Debug, thiserror::Error)]
pub enum LearnError {
    #[error(
        "no AnyBURL jar: pass --anyburl PATH/AnyBURL-23-1.jar or set ANYBURL_JAR (AnyBURL is \
         not shipped with pff; the PyClause repository carries it as clause/bin/AnyBURL-23-1.jar)"
    )]
    NoJar,
    #[error("the AnyBURL jar {0} does not exist")]
    JarMissing(String),
    #[error(
        "no Java: `{0}` was not found; install Java 11 or later, put `java` on PATH, or name it \
         with --java or JAVA"
    )]
    NoJava(String),
    #[error("--set {0}: give KEY=VALUE (an AnyBURL setting)")]
    BadSetting(String),
    #[error(
        "--set {0}: pff writes this setting itself; use the pff option for it (--time, \
         --snapshots, --threads, ...)"
    )]
    OwnSetting(String),
    #[error("--snapshots: {0} is not before --time")]
    BadSnapshot(u64),
    #[error("{path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("AnyBURL failed ({status}); the end of its log ({log}):\n{tail}")]
    Child {
        status: String,
        log: String,
        tail: String,
    },
    #[error(
        "AnyBURL wrote no rules (no snapshot {snapshot}); give it more time (--time) or lower \
         the thresholds (--min-correct, --min-confidence). Its log: {log}"
    )]
    NoSnapshot { snapshot: String, log: String },
    #[error(
        "AnyBURL learned no rule in {secs} s; give it more time (--time) or lower the \
         thresholds (--min-correct, --min-confidence)"
    )]
    Empty { secs: u64 },
    #[error("cannot count the rules on the training data: {0}")]
    Rescore(String),
    #[error("the snapshot AnyBURL wrote does not read as rules")]
    BadSnapshotRules(#[source] crate::rules::RulesError),
}

impl LearnError {
    pub fn io(path: &Path, source: io::Error) -> Self {
        LearnError::Io {
            path: format!("cannot write {}", path.display()),
            source,
        }
    }
}

/// The settings pff writes itself; `--set` may not name them.
const OWN: &[&str] = &[
    "PATH_TRAINING",
    "PATH_OUTPUT",
    "SNAPSHOTS_AT",
    "WORKER_THREADS",
    "MAX_LENGTH_CYCLIC",
    "MAX_LENGTH_ACYCLIC",
    "ZERO_RULES_ACTIVE",
    "THRESHOLD_CORRECT_PREDICTIONS",
    "THRESHOLD_CORRECT_PREDICTIONS_ZERO",
    "THRESHOLD_CONFIDENCE",
];

/// `KEY=VALUE` as an AnyBURL setting.
pub fn parse_setting(s: &str) -> Result<(String, String), LearnError> {
    let (k, v) = s
        .split_once('=')
        .ok_or_else(|| LearnError::BadSetting(s.to_string()))?;
    let (k, v) = (k.trim(), v.trim());
    let plain = |x: &str| !x.contains(['\n', '\r']);
    if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') || !plain(v) {
        return Err(LearnError::BadSetting(s.to_string()));
    }
    if OWN.contains(&k) {
        return Err(LearnError::OwnSetting(k.to_string()));
    }
    Ok((k.to_string(), v.to_string()))
}

impl LearnOptions {
    /// The snapshot times, ascending, ending with the learning time.
    pub fn snapshot_times(&self) -> Result<Vec<u64>, LearnError> {
        let mut t = self.snapshots.clone();
        if let Some(&bad) = t.iter().find(|&&s| s == 0 || s >= self.time_secs) {
            return Err(LearnError::BadSnapshot(bad));
        }
        t.push(self.time_secs);
        t.sort_unstable();
        t.dedup();
        Ok(t)
    }

    /// AnyBURL's configuration (a Java properties file; paths relative to the work folder,
    /// where AnyBURL runs).
    pub fn config(&self) -> Result<String, LearnError> {
        let times = self
            .snapshot_times()?
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut s = String::from("# written by pff learn\n");
        let mut set = |k: &str, v: String| s.push_str(&format!("{k} = {v}\n"));
        set("PATH_TRAINING", TRIPLES_FILE.into());
        set("PATH_OUTPUT", RULES_PREFIX.into());
        set("SNAPSHOTS_AT", times);
        set("WORKER_THREADS", self.threads.max(1).to_string());
        set("MAX_LENGTH_CYCLIC", self.max_length_cyclic.to_string());
        set("MAX_LENGTH_ACYCLIC", self.max_length_acyclic.to_string());
        set("ZERO_RULES_ACTIVE", self.zero_rules.to_string());
        set(
            "THRESHOLD_CORRECT_PREDICTIONS",
            self.min_correct.to_string(),
        );
        set(
            "THRESHOLD_CORRECT_PREDICTIONS_ZERO",
            self.min_correct_zero.to_string(),
        );
        set("THRESHOLD_CONFIDENCE", self.min_confidence.to_string());
        for (k, v) in &self.extra {
            set(k, v.clone());
        }
        Ok(s)
    }
}

/// The Java heap for a memory budget: the JVM's own overhead comes on top of the heap, so
/// the heap gets 85% of it (at least 256 MiB), in MiB as `-Xmx` takes it.
pub fn heap_mib(budget: u64) -> u64 {
    ((budget as f64 * 0.85) as u64 / (1 << 20)).max(256)
}

/// The Java to run: `java` names a program on PATH, anything with a `/` a file.
pub fn find_java(java: &str) -> Result<PathBuf, LearnError> {
    let is_exec = |p: &Path| p.is_file();
    if java.contains('/') {
        let p = PathBuf::from(java);
        return if is_exec(&p) {
            Ok(p)
        } else {
            Err(LearnError::NoJava(java.to_string()))
        };
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(java))
        .find(|p| is_exec(p))
        .ok_or_else(|| LearnError::NoJava(java.to_string()))
}

/// How the child ended.
pub enum Ending {
    Exited(ExitStatus),
    /// Stopped by a signal pff received (and passed on): SIGINT 2 or SIGTERM 15.
    Interrupted(i32),
}

/// Runs `java -Xmx<heap>M -cp <jar> de.unima.ki.anyburl.Learn config-learn.properties` in
/// `work`, its output appended to the log. `tick` is called about once a second with the time
/// since the start. SIGINT and SIGTERM to pff are passed on to the child, which is then
/// waited for.
pub fn run_anyburl(
    java: &Path,
    jar: &Path,
    heap_mib: u64,
    work: &Path,
    mut tick: impl FnMut(Duration),
) -> Result<Ending, LearnError> {
    let log_path = work.join(LOG_FILE);
    let log = File::create(&log_path).map_err(|e| LearnError::io(&log_path, e))?;
    let log2 = log.try_clone().map_err(|e| LearnError::io(&log_path, e))?;
    let mut cmd = tokio::process::Command::new(java);
    cmd.arg(format!("-Xmx{heap_mib}M"))
        .arg("-cp")
        .arg(jar)
        .arg(LEARN_CLASS)
        .arg(CONFIG_FILE)
        .current_dir(work)
        .stdin(Stdio::null())
        .stdout(Stdio::from(log))
        .stderr(Stdio::from(log2))
        .kill_on_drop(true);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| LearnError::io(work, e))?;
    rt.block_on(async move {
        use tokio::signal::unix::{SignalKind, signal};
        let spawn_err = |e: io::Error| LearnError::Io {
            path: format!("cannot start {}", java.display()),
            source: e,
        };
        let mut int = signal(SignalKind::interrupt()).map_err(spawn_err)?;
        let mut term = signal(SignalKind::terminate()).map_err(spawn_err)?;
        let mut child = cmd.spawn().map_err(spawn_err)?;
        let start = Instant::now();
        let mut every = tokio::time::interval(Duration::from_secs(1));
        let mut stopped = None;
        loop {
            tokio::select! {
                st = child.wait() => {
                    let st = st.map_err(spawn_err)?;
                    return Ok(stopped.map_or(Ending::Exited(st), Ending::Interrupted));
                }
                _ = int.recv() => stopped = Some(pass_on(&child, libc::SIGINT)),
                _ = term.recv() => stopped = Some(pass_on(&child, libc::SIGTERM)),
                _ = every.tick() => tick(start.elapsed()),
            }
        }
    })
}

/// Sends `sig` to the child (a terminal's Ctrl-C reaches it anyway; a SIGTERM to pff alone,
/// as from a scheduler, does not).
fn pass_on(child: &tokio::process::Child, sig: i32) -> i32 {
    if let Some(pid) = child.id() {
        // SAFETY: kill(2) on our own child's pid; no memory is shared.
        unsafe {
            libc::kill(pid as libc::pid_t, sig);
        }
    }
    sig
}

/// The unseen negative examples added to a rule's predictions when its confidence is counted
/// on the training data: AnyBURL's own default (`UNSEEN_NEGATIVE_EXAMPLES = 5`) when it
/// applies rules, so that a rule right 30 times of 30 ranks below one right 3,000 times of
/// 3,000.
pub const UNSEEN_NEGATIVE: u64 = 5;

/// Rewrites a rules file with each rule's predictions and correct predictions counted exactly
/// on `data` (pff's engine, record by record, under `mapping`), and its confidence
/// `correct / (predicted + UNSEEN_NEGATIVE)`, in place of AnyBURL's estimates: AnyBURL scores
/// rules on a sample and across records, and some of its confidences are far off (a rule it
/// scores 1.0 holds on 45% of the accounts it applies to). Rules that never apply on `data`
/// get confidence 0. Rule order and text are kept. `stop` says when to give up (a signal).
pub fn rescore(
    rules_path: &Path,
    data: &Path,
    format: Option<crate::triples::Format>,
    mapping: &crate::triples::Mapping,
    out: &Path,
    stop: &dyn Fn() -> bool,
) -> Result<(), LearnError> {
    use crate::rules::RuleSource;
    let fail = |e: String| LearnError::Rescore(e);
    let rules = RuleSource::open_filtered(
        &[rules_path],
        Box::new(|_| true),
        usize::MAX,
        &std::env::temp_dir(),
    )
    .map_err(|e| fail(format!("{e:#}")))?;
    let opts = crate::check::Options {
        findings: false,
        ..crate::check::Options::default()
    };
    let checker = crate::check::SourceChecker::new(&rules, opts)
        .ok_or_else(|| fail("the rules do not fit in memory".into()))?;
    // `stop` is asked after each chunk of records: a signal ends the count between chunks.
    let (_, stats) = crate::validate::check_file(checker.get(), data, format, mapping, |_| {
        if stop() {
            return Err(io::Error::new(
                io::ErrorKind::Interrupted,
                "stopped by a signal",
            ));
        }
        Ok(())
    })
    .map_err(|e| fail(format!("{e:#}")))?;
    let write = || -> Result<(), LearnError> {
        let f = File::create(out).map_err(|e| LearnError::io(out, e))?;
        let mut w = io::BufWriter::new(f);
        stats
            .write_pessimistic(&rules, &mut w, UNSEEN_NEGATIVE)
            .map_err(|e| fail(format!("cannot write {}: {e:#}", out.display())))?;
        w.flush().map_err(|e| LearnError::io(out, e))
    };
    write()
}

/// The last `bytes` of a file, for an error message.
pub fn tail(path: &Path, bytes: u64) -> String {
    let read = || -> io::Result<String> {
        let mut f = File::open(path)?;
        let len = f.metadata()?.len();
        f.seek(SeekFrom::Start(len.saturating_sub(bytes)))?;
        let mut buf = Vec::new();
        f.read_to_end(&mut buf)?;
        Ok(String::from_utf8_lossy(&buf).trim_end().to_string())
    };
    read().unwrap_or_else(|e| format!("(cannot read it: {e})"))
}

/// The rule count of the last snapshot AnyBURL says it stored (`>>> stored N rules`).
pub fn stored_count(log: &str) -> Option<usize> {
    stored_counts(log).last().copied()
}

/// The rule counts of the snapshots AnyBURL says it stored, in order.
pub fn stored_counts(log: &str) -> Vec<usize> {
    log.lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix(">>> stored ")?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// Whether the child's run counts as a success: AnyBURL 23-1 ends with exit status 1 after a
/// normal run, so the status alone does not tell. A run succeeded when the last snapshot was
/// stored whole: its log names the count the file holds. Without that line, only a zero
/// status is trusted.
pub fn judge(status_ok: bool, logged: Option<usize>, parsed: usize) -> bool {
    match logged {
        Some(n) => n == parsed,
        None => status_ok,
    }
}

/// The snapshot file AnyBURL writes at `secs`.
pub fn snapshot_path(work: &Path, secs: u64) -> PathBuf {
    work.join(format!("{RULES_PREFIX}-{secs}"))
}

/// Checks the snapshot with pff's rule parser, and its rule count with `accept`. Returns the
/// rule count.
pub fn check_snapshot(
    snapshot: &Path,
    secs: u64,
    accept: impl FnOnce(usize) -> Result<(), LearnError>,
) -> Result<usize, LearnError> {
    let rules = crate::rules::load_rules(snapshot).map_err(|e| match e {
        crate::rules::RulesError::Empty { .. } => LearnError::Empty { secs },
        e => LearnError::BadSnapshotRules(e),
    })?;
    accept(rules.rules.len())?;
    Ok(rules.rules.len())
}

/// The temporary name `install` writes under, beside `out`. It carries the process id and is
/// created exclusively: a file already there (someone else's) is never written over or
/// removed.
fn partial_path(out: &Path) -> std::path::PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "rules".into());
    out.with_file_name(format!(".{name}.pff-partial-{}", std::process::id()))
}

/// Checks, before any learning, that [`install`] will be able to write `out`: its temporary
/// file is created in `out`'s folder and removed again (it is ours: created exclusively).
pub fn check_writable(out: &Path) -> Result<(), LearnError> {
    let tmp = partial_path(out);
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| LearnError::io(out, e))?;
    fs::remove_file(&tmp).map_err(|e| LearnError::io(&tmp, e))
}

/// Copies `from` to `out` through a temporary file beside it, renamed at the end: a reader
/// never sees half a rules file.
pub fn install(from: &Path, out: &Path) -> Result<(), LearnError> {
    let tmp = partial_path(out);
    let mut w = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .map_err(|e| LearnError::io(&tmp, e))?;
    let mut copy = || -> io::Result<()> {
        io::copy(&mut File::open(from)?, &mut w)?;
        w.sync_all()?;
        fs::rename(&tmp, out)
    };
    copy().map_err(|e| {
        // Ours: created above.
        let _ = fs::remove_file(&tmp);
        LearnError::io(out, e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts() -> LearnOptions {
        LearnOptions {
            time_secs: 900,
            snapshots: vec![300, 60],
            threads: 2,
            max_length_cyclic: 3,
            max_length_acyclic: 2,
            zero_rules: true,
            min_correct: 18,
            min_correct_zero: 100,
            min_confidence: 0.004,
            extra: vec![("SAMPLE_SIZE".into(), "500".into())],
        }
    }

    #[test]
    fn config_has_every_option_and_the_extras() {
        let c = opts().config().unwrap();
        for line in [
            "PATH_TRAINING = triples.tsv",
            "PATH_OUTPUT = rules",
            "SNAPSHOTS_AT = 60,300,900",
            "WORKER_THREADS = 2",
            "MAX_LENGTH_CYCLIC = 3",
            "MAX_LENGTH_ACYCLIC = 2",
            "ZERO_RULES_ACTIVE = true",
            "THRESHOLD_CORRECT_PREDICTIONS = 18",
            "THRESHOLD_CORRECT_PREDICTIONS_ZERO = 100",
            "THRESHOLD_CONFIDENCE = 0.004",
            "SAMPLE_SIZE = 500",
        ] {
            assert!(c.lines().any(|l| l == line), "{line} missing from\n{c}");
        }
    }

    #[test]
    fn snapshots_must_come_before_the_end() {
        let mut o = opts();
        o.snapshots = vec![900];
        assert!(matches!(o.config(), Err(LearnError::BadSnapshot(900))));
        o.snapshots = vec![];
        assert_eq!(o.snapshot_times().unwrap(), vec![900]);
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(
            parse_setting(" SAMPLE_SIZE = 500").unwrap(),
            ("SAMPLE_SIZE".into(), "500".into())
        );
        assert!(matches!(
            parse_setting("PATH_TRAINING=x"),
            Err(LearnError::OwnSetting(_))
        ));
        for bad in ["SAMPLE_SIZE", "=1", "A B=1", "K=a\nPATH_OUTPUT=x"] {
            assert!(
                matches!(parse_setting(bad), Err(LearnError::BadSetting(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_run_is_judged_by_its_last_stored_snapshot() {
        let log = ">>> storing rules in file rules-10\n>>> stored 12 rules in 3ms\n\
                   >>> storing rules in file rules-20\n\n>>> Bye, bye.\n>>> stored 1455 rules in 27ms\n";
        assert_eq!(stored_count(log), Some(1455));
        assert_eq!(stored_counts(log), vec![12, 1455]);
        assert_eq!(stored_count("no such line"), None);
        assert!(judge(false, Some(1455), 1455));
        assert!(!judge(true, Some(1455), 1000));
        assert!(!judge(false, None, 1000));
        assert!(judge(true, None, 1000));
    }

    #[test]
    fn heap_follows_the_budget() {
        assert_eq!(heap_mib(8 << 30), 6963);
        assert_eq!(heap_mib(1 << 20), 256);
    }

    #[test]
    fn java_is_looked_up() {
        assert!(matches!(
            find_java("/nonexistent/java"),
            Err(LearnError::NoJava(_))
        ));
        assert!(matches!(
            find_java("no-such-java-program-here"),
            Err(LearnError::NoJava(_))
        ));
        assert!(find_java("sh").is_ok());
    }

    #[test]
    fn snapshots_are_parsed_before_they_are_adopted() {
        let dir = tempfile::TempDir::new().unwrap();
        let snap = dir.path().join("rules-10");
        let out = dir.path().join("out.txt");
        fs::write(
            &snap,
            "10\t9\t0.9\tstatus.status@current(X,On) <= product(A,X)\n",
        )
        .unwrap();
        assert_eq!(check_snapshot(&snap, 10, |_| Ok(())).unwrap(), 1);
        install(&snap, &out).unwrap();
        assert_eq!(fs::read(&out).unwrap(), fs::read(&snap).unwrap());
        // A file at the temporary name is someone else's: refused, left as it is.
        let theirs = dir
            .path()
            .join(format!(".out.txt.pff-partial-{}", std::process::id()));
        fs::write(&theirs, "theirs").unwrap();
        assert!(install(&snap, &out).is_err());
        assert_eq!(fs::read_to_string(&theirs).unwrap(), "theirs");
        fs::remove_file(&theirs).unwrap();
        fs::write(&snap, "").unwrap();
        assert!(matches!(
            check_snapshot(&snap, 10, |_| Ok(())),
            Err(LearnError::Empty { secs: 10 })
        ));
        fs::write(&snap, "10\t9\t0.9\tnot a rule\n").unwrap();
        assert!(matches!(
            check_snapshot(&snap, 10, |_| Ok(())),
            Err(LearnError::BadSnapshotRules(_))
        ));
    }
}
