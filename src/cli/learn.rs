//! `pff learn`: records in, checked rules out, AnyBURL in between.

use std::fs;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::LearnArgs;
use crate::exit;
use crate::hardware::{Machine, Plan, Requests};
use crate::learn::{self, Ending, LearnError, LearnOptions};
use crate::ruleset;

/// The rescored rules, in the work folder.
const RESCORED: &str = "rules-rescored";

/// The folder AnyBURL works in, and whether pff made it (then pff may remove it).
struct Work {
    dir: PathBuf,
    made: bool,
}

impl Work {
    fn open(asked: Option<&Path>) -> Result<Work> {
        if let Some(dir) = asked {
            if dir.exists() {
                let mut entries = fs::read_dir(dir)
                    .with_context(|| format!("cannot read the work folder {}", dir.display()))?;
                if entries.next().is_some() {
                    bail!(
                        "the work folder {} is not empty; pff learn writes only into a new or \
                         empty folder",
                        dir.display()
                    );
                }
            } else {
                fs::create_dir_all(dir)
                    .with_context(|| format!("cannot create {}", dir.display()))?;
            }
            return Ok(Work {
                dir: dir.to_path_buf(),
                made: false,
            });
        }
        let stamp = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let dir = std::env::temp_dir().join(format!("pff-learn-{}-{stamp}", std::process::id()));
        fs::create_dir(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Work { dir, made: true })
    }

    /// Removes the folder if pff made it, with the files pff and AnyBURL wrote in it.
    fn finish(self) {
        if self.made {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `pff learn`: AnyBURL on the training data's triples, the rules recounted exactly and
/// installed at `-o` (a rules file or a rule set folder).
pub fn learn(args: LearnArgs) -> Result<u8> {
    let (java, jar) = check_learn_args(&args)?;
    let machine = Machine::detect();
    let opts = options(&args, &machine)?;
    let config = opts.config()?;
    // The memory a run would plan for, unless told.
    let plan = || Plan::new(machine, Requests::default()).memory_budget;
    let heap = learn::heap_mib(args.memory_limit.unwrap_or_else(plan));
    let work = Work::open(args.work_dir.as_deref())?;
    // Bad data stops the command before AnyBURL runs: a folder pff made is removed then (its
    // files are only the half-written triples).
    let prepared = write_triples(&args, &work.dir).and_then(|n| {
        let config_path = work.dir.join(learn::CONFIG_FILE);
        fs::write(&config_path, &config).map_err(|e| LearnError::io(&config_path, e))?;
        Ok(n)
    });
    let triples = match prepared {
        Ok(n) => n,
        Err(e) => {
            work.finish();
            return Err(e);
        }
    };
    if !args.quiet {
        eprintln!(
            "pff: learning from {triples} triples of {} (mapping {}) for {} s: {} threads, \
             Java heap {heap} MiB, work folder {}",
            args.data.display(),
            args.input.mapping().describe(),
            args.time,
            opts.threads,
            work.dir.display()
        );
    }
    let pb = progress(args.quiet, args.time);
    let started = Instant::now();
    let times = opts.snapshot_times()?;
    let watcher = watch(&pb, &work.dir, times, args.time);
    let ending = learn::run_anyburl(&java, &jar, heap, &work.dir, watcher);
    pb.finish_and_clear();
    let (n, final_rules) = match after_anyburl(&args, ending?, &work)? {
        Ok(done) => done,
        Err(code) => return Ok(code),
    };
    let secs = started.elapsed().as_secs();
    put_rules(&args, &final_rules, triples, &config, secs)?;
    compile_into_cache(&args.output);
    if !args.quiet {
        eprintln!(
            "pff: {n} rules learned in {:.0} s -> {}",
            started.elapsed().as_secs_f64(),
            args.output.display()
        );
    }
    work.finish();
    Ok(exit::CLEAN)
}

/// The rules just learned, compiled into the cache of compiled rule sets: the first
/// `validate` with them starts without parsing them. A cache that cannot be written is said,
/// and nothing else changes (the rules are in place).
fn compile_into_cache(output: &Path) {
    use crate::rules::compiled::{Filter, cache_dir, open_cached};
    let Some(cache) = cache_dir() else { return };
    let files = match ruleset::resolve(&[output.to_path_buf()]) {
        Ok(r) => r.files,
        Err(_) => return,
    };
    if let Err(e) = open_cached(&files, Filter::all(), 1, &cache, true) {
        eprintln!("pff: note: the rules were not compiled into the cache: {e}");
    }
}

/// The Java and the AnyBURL jar to run, once `-o` is known to be writable at the end (checked
/// before learning for `--time` seconds) and never to replace what is not pff's.
fn check_learn_args(args: &LearnArgs) -> Result<(PathBuf, PathBuf)> {
    let jar = args.anyburl.clone().ok_or(LearnError::NoJar)?;
    if !jar.is_file() {
        return Err(LearnError::JarMissing(jar.display().to_string()).into());
    }
    let java = learn::find_java(&args.java)?;
    if args.output.exists() && !args.force {
        bail!(
            "{} exists; pass --force to replace it, or choose another -o",
            args.output.display()
        );
    }
    if args.output.is_dir() && !ruleset::is_rule_set(&args.output) {
        bail!(
            "{} is a folder that is not a rule set pff made; --force replaces only a rule set \
             (a folder with ruleset.json) or a rules file",
            args.output.display()
        );
    }
    crate::files::check_outputs(&[("-o", &args.output)], &[&args.data])?;
    learn::check_writable(&args.output)?;
    Ok((java, jar))
}

/// What AnyBURL's ending leaves: the number of rules and the final rules file (recounted
/// unless `--anyburl-confidence`), or the exit code of a signal (nothing is written then).
fn after_anyburl(
    args: &LearnArgs,
    ending: Ending,
    work: &Work,
) -> Result<std::result::Result<(usize, PathBuf), u8>> {
    let log = work.dir.join(learn::LOG_FILE);
    let (n, snapshot) = match ending {
        Ending::Interrupted(sig) => {
            eprintln!(
                "pff: interrupted: AnyBURL was stopped; nothing was written to {}. Its files \
                 (log, snapshots so far) are in {}",
                args.output.display(),
                work.dir.display()
            );
            return Ok(Err(signal_code(sig)));
        }
        Ending::Exited(st) => {
            // From here a signal is caught by pff itself: the recount stops at its next chunk
            // of records and nothing is written.
            late_signal::catch();
            // Fault injection for the test of a late signal (debug builds only): a pause in
            // which the recount would run on a large training set.
            #[cfg(debug_assertions)]
            if let Some(ms) = std::env::var("PFF_DEBUG_LEARN_PAUSE_MS")
                .ok()
                .and_then(|v| v.parse().ok())
            {
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            let snapshot = learn::snapshot_path(&work.dir, args.time);
            (adopt(st, &snapshot, &log, args.time)?, snapshot)
        }
    };
    let final_rules = if args.anyburl_confidence {
        Some(snapshot)
    } else {
        recount(args, &snapshot, &work.dir)?
    };
    match (final_rules, late_signal::caught()) {
        (Some(rules), None) => Ok(Ok((n, rules))),
        (_, sig) => {
            eprintln!(
                "pff: interrupted after AnyBURL ended: nothing was written to {}. Its files are \
                 in {}",
                args.output.display(),
                work.dir.display()
            );
            Ok(Err(signal_code(sig.unwrap_or(libc::SIGINT))))
        }
    }
}

/// Whether `-o` names a rule set folder (no extension) rather than a plain rules file.
fn is_rule_set_output(out: &Path) -> bool {
    out.extension().is_none()
}

/// Installs the rules at `-o`: a plain file as it is, or a rule set folder with `rules.txt`
/// and `ruleset.json` (the encoding and where the rules came from).
fn put_rules(args: &LearnArgs, rules: &Path, triples: u64, config: &str, secs: u64) -> Result<()> {
    if !is_rule_set_output(&args.output) {
        learn::install(rules, &args.output)?;
        return Ok(());
    }
    let dir = &args.output;
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let digest =
        |p: &Path| ruleset::file_digest(p).with_context(|| format!("cannot read {}", p.display()));
    let jar = args.anyburl.as_deref().unwrap_or(Path::new(""));
    let provenance = ruleset::Provenance {
        data: args.data.display().to_string(),
        data_digest: if args.data.as_os_str() == "-" {
            "standard input".into()
        } else {
            digest(&args.data)?
        },
        triples,
        anyburl: jar
            .file_name()
            .map_or(String::new(), |n| n.to_string_lossy().into_owned()),
        anyburl_digest: digest(jar)?,
        settings: config
            .lines()
            .filter(|l| !l.starts_with("PATH_"))
            .map(String::from)
            .collect(),
        learning_secs: secs,
        recounted: !args.anyburl_confidence,
    };
    learn::install(rules, &dir.join(ruleset::RULES_FILE))?;
    ruleset::write_info(
        dir,
        &ruleset::new_info(&args.input.mapping(), Some(provenance)),
    )?;
    Ok(())
}

/// The snapshot's rules with their confidences counted on the training data, in the work
/// folder; none when a signal stopped the count (it stops between chunks of records).
fn recount(args: &LearnArgs, snapshot: &Path, work: &Path) -> Result<Option<PathBuf>> {
    let t = Instant::now();
    let rescored = work.join(RESCORED);
    let counted = learn::rescore(
        snapshot,
        &args.data,
        args.input.format(),
        &args.input.mapping(),
        &rescored,
        &|| late_signal::caught().is_some(),
    );
    if late_signal::caught().is_some() {
        return Ok(None);
    }
    counted?;
    if !args.quiet {
        eprintln!(
            "pff: confidences counted exactly on {} ({:.1} s)",
            args.data.display(),
            t.elapsed().as_secs_f64()
        );
    }
    Ok(Some(rescored))
}

/// What the progress bar shows each second: the learning time, and the last snapshot AnyBURL
/// says it stored (read from its log) with its rule count.
fn watch<'a>(
    pb: &'a ProgressBar,
    work: &Path,
    times: Vec<u64>,
    secs: u64,
) -> impl FnMut(std::time::Duration) + 'a {
    let log = work.join(learn::LOG_FILE);
    let mut shown = 0;
    move |t| {
        pb.set_position(t.as_secs().min(secs));
        let stored = fs::read_to_string(&log)
            .map(|text| learn::stored_counts(&text))
            .unwrap_or_default();
        if stored.len() > shown
            && let (Some(n), Some(s)) = (stored.last(), times.get(stored.len() - 1))
        {
            shown = stored.len();
            pb.set_message(format!(
                "snapshot at {s} s: {n} rules (Ctrl-C stops AnyBURL)"
            ));
        }
    }
}

/// AnyBURL's options from the command line.
fn options(args: &LearnArgs, machine: &Machine) -> Result<LearnOptions> {
    let extra = args
        .settings
        .iter()
        .map(|s| learn::parse_setting(s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(LearnOptions {
        time_secs: args.time,
        snapshots: args.snapshots.clone(),
        threads: args.threads.unwrap_or(machine.cpus),
        max_length_cyclic: args.max_length_cyclic,
        max_length_acyclic: args.max_length_acyclic,
        zero_rules: !args.no_zero_rules,
        min_correct: args.min_correct,
        min_correct_zero: args.min_correct_zero,
        min_confidence: args.min_confidence,
        extra,
    })
}

/// Judges how AnyBURL ended (status `st`) by its last snapshot and log; the rule count.
fn adopt(st: std::process::ExitStatus, snapshot: &Path, log: &Path, secs: u64) -> Result<usize> {
    let failed = || LearnError::Child {
        status: st.to_string(),
        log: log.display().to_string(),
        tail: learn::tail(log, 2000),
    };
    if !snapshot.is_file() {
        if !st.success() {
            return Err(failed().into());
        }
        return Err(LearnError::NoSnapshot {
            snapshot: snapshot.display().to_string(),
            log: log.display().to_string(),
        }
        .into());
    }
    let logged = fs::read_to_string(log)
        .ok()
        .and_then(|t| learn::stored_count(&t));
    Ok(learn::check_snapshot(snapshot, secs, |n| {
        if learn::judge(st.success(), logged, n) {
            Ok(())
        } else {
            Err(failed())
        }
    })?)
}

/// The training triples (exactly what `pff triples` writes) into the work folder; their
/// count.
fn write_triples(args: &LearnArgs, work: &Path) -> Result<u64> {
    let path = work.join(learn::TRIPLES_FILE);
    let file = fs::File::create(&path).map_err(|e| LearnError::io(&path, e))?;
    let mut out = BufWriter::new(file);
    // A full disk shows as a write error: name the file written (the data is named by the
    // reader's own errors).
    let n = super::commands::write_triples(&args.data, &args.input, &mut out)
        .with_context(|| format!("while writing the training triples to {}", path.display()))?;
    out.flush().map_err(|e| LearnError::io(&path, e))?;
    if n == 0 {
        bail!("{} holds no triples to learn from", args.data.display());
    }
    Ok(n)
}

fn progress(quiet: bool, secs: u64) -> ProgressBar {
    if quiet || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(secs), ProgressDrawTarget::stderr());
    pb.set_style(
        ProgressStyle::with_template("learning {bar:30} {pos}/{len} s, {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    pb.set_message("AnyBURL running (Ctrl-C stops it)");
    pb
}

/// The exit code for a signal that stopped `pff learn`.
fn signal_code(sig: i32) -> u8 {
    if sig == libc::SIGINT {
        exit::SIGINT
    } else {
        exit::SIGTERM
    }
}

/// SIGINT and SIGTERM once AnyBURL has ended (its runtime, which passed them on, is gone):
/// recorded, and acted on before the rules are written.
mod late_signal {
    use std::sync::atomic::{AtomicI32, Ordering};

    static CAUGHT: AtomicI32 = AtomicI32::new(0);

    extern "C" fn on_signal(sig: libc::c_int) {
        // Async-signal-safe: one atomic store.
        CAUGHT.store(sig, Ordering::SeqCst);
    }

    /// Installs the handler for SIGINT and SIGTERM.
    pub fn catch() {
        let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(libc::SIGINT, handler);
            libc::signal(libc::SIGTERM, handler);
        }
    }

    /// The signal caught since [`catch`], if any.
    pub fn caught() -> Option<i32> {
        match CAUGHT.load(Ordering::SeqCst) {
            0 => None,
            s => Some(s),
        }
    }
}
