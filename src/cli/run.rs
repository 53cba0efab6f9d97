//! `pff run` and `pff merge`: a manifest's tasks under the machine's plan, dated run folders,
//! baselines, and what a run says on the terminal while it runs ([`Terminal`]).

use std::fs::File;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use super::args::{MergeArgs, RunArgs};
use super::notes::{check_encoding, fail_reason, warn_without_counts};
use super::settings::RunDraft;
use crate::defaults;
use crate::exit;
use crate::manifest::{BaselineChoice, Manifest};
use crate::pipeline;
use crate::rules::RuleSource;
use crate::triples::{Format, input};

/// `pff run`: a manifest's tasks, sized to the machine.
pub fn run(args: RunArgs) -> Result<u8> {
    let diag = Diagnostics::open(args.verbose, args.log.as_deref())?;
    let started = std::time::Instant::now();
    let manifest = load_run_manifest(&args, &diag)?;
    let draft = RunDraft::resolve(&args, &manifest)?;
    for w in &draft.plan.warnings {
        eprintln!("pff: warning: {w}");
    }
    if args.dry_run {
        println!("{}", draft.plan.describe());
        println!("{}", draft.describe(&manifest));
        return Ok(exit::CLEAN);
    }
    diag.line(&draft.plan.describe());
    diag.line(&draft.describe(&manifest));
    draft.plan.preflight()?;
    let rules = open_run_rules(&draft, args.quiet)?;
    let spec = draft.finish(&rules);
    let spec = pipeline::ExecutionSpec {
        warnings: sample_encoding(&spec.mapping(), &manifest, &rules, args.strict)?,
        ..spec
    };
    diag.line(&rules_line(&rules, started));
    let output = run_folder(&draft, args.resume)?;
    let local = pipeline::Local {
        baseline: run_baseline(&args, &manifest, &draft, &output)?,
        plan: draft.plan,
        output,
        resume: args.resume,
        fresh: args.fresh,
        quiet: args.quiet,
        fetch: draft.fetch,
        command: std::env::args().collect::<Vec<_>>().join(" "),
        observer: std::sync::Arc::new(Terminal { quiet: args.quiet }),
        shutdown: forward_signals()?,
    };
    let job = pipeline::Job {
        spec: &spec,
        tasks: &manifest.tasks,
        manifest_text: &manifest.text,
        local: &local,
    };
    let outcome = pipeline::run(&rules, &job)?;
    diag.outcome(&outcome, started);
    let Some(s) = &outcome.summary else {
        eprintln!(
            "pff: stopped before the final outputs were written; `pff run {} --resume` writes them",
            args.manifest.display()
        );
        return Ok(outcome.code);
    };
    print_incomplete(s);
    if outcome.code == exit::VIOLATIONS {
        let fail_on = spec.checks.fail_on;
        match (&s.baseline, spec.fail_on_new) {
            (Some(b), true) => eprintln!(
                "pff: {} (new against the baseline)",
                fail_reason(&b.new, fail_on)
            ),
            _ => eprintln!("pff: {}", fail_reason(&s.findings, fail_on)),
        }
    }
    if !args.quiet {
        print_ending(s, &local.output);
    }
    Ok(outcome.code)
}

/// The encoding, checked on the first task read from a file (an API is not asked twice).
fn sample_encoding(
    mapping: &crate::triples::Mapping,
    manifest: &Manifest,
    rules: &RuleSource,
    strict: bool,
) -> Result<Vec<String>> {
    let first_file = manifest
        .tasks
        .iter()?
        .take(100)
        .find_map(|t| match &t.ok()?.1.source {
            crate::manifest::Source::File(p) => Some(p.clone()),
            crate::manifest::Source::Url(_) => None,
        });
    let Some(p) = first_file else {
        return Ok(Vec::new());
    };
    let format = input::format_of(&p.display().to_string(), None, Some(Format::Json)).ok();
    Ok(check_encoding(&p, format, mapping, rules, strict)?
        .into_iter()
        .collect())
}

/// The diagnostic line about the rules read.
fn rules_line(rules: &RuleSource, started: std::time::Instant) -> String {
    format!(
        "rules: {} read in {:.2} s, {}",
        rules.len(),
        started.elapsed().as_secs_f64(),
        if rules.in_memory() {
            "held in memory"
        } else {
            "filed on disk by anchor"
        }
    )
}

/// SIGINT and SIGTERM from here on ask the run to stop (the first one; it says so and
/// finishes the tasks in flight), and a second one quits at once with 128 + the signal, as
/// the first one's notice says. The handlers are installed before this returns.
fn forward_signals() -> Result<pipeline::Shutdown> {
    let shutdown = pipeline::Shutdown::default();
    let (ready, installed) = std::sync::mpsc::channel();
    let forward = shutdown.clone();
    let listen = move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .build();
        let runtime = match runtime {
            Ok(r) => r,
            Err(e) => return drop(ready.send(Err(e))),
        };
        runtime.block_on(async move {
            use tokio::signal::unix::{SignalKind, signal};
            let handlers = signal(SignalKind::interrupt())
                .and_then(|int| Ok((int, signal(SignalKind::terminate())?)));
            let (mut int, mut term) = match handlers {
                Ok(h) => h,
                Err(e) => return drop(ready.send(Err(e))),
            };
            let _ = ready.send(Ok(()));
            loop {
                let sig = tokio::select! {
                    _ = int.recv() => 2,
                    _ = term.recv() => 15,
                };
                if !forward.request(sig) {
                    std::process::exit(128 + sig);
                }
                // Said here, as the signal arrives: a second one may end the process before
                // the run would have said it.
                eprintln!(
                    "pff: stopping: finishing tasks in flight (signal again to quit at once); \
                     `--resume` continues the execution"
                );
            }
        });
    };
    std::thread::Builder::new()
        .name("pff-signals".into())
        .spawn(listen)
        .context("cannot start the signal handler's thread")?;
    installed
        .recv()
        .context("the signal handler's thread ended")?
        .context("cannot install the signal handlers")?;
    Ok(shutdown)
}

/// A run's notices on standard error (warnings only without `--quiet`).
struct Terminal {
    quiet: bool,
}

impl pipeline::Observer for Terminal {
    fn notice(&self, notice: pipeline::Notice<'_>) {
        match notice {
            // The signal thread said it when the signal arrived (`forward_signals`).
            pipeline::Notice::Stopping => {}
            _ if self.quiet => {}
            pipeline::Notice::TaskFileRejected {
                file,
                why,
                moved_to,
            } => eprintln!(
                "pff: warning: {file} is not this task's result ({why}); moved to {moved_to}, the \
                 task runs again"
            ),
            pipeline::Notice::BaselineFileSkipped { file, why } => eprintln!(
                "pff: warning: baseline task file {file} cannot be read ({why}); its findings \
                 count as new"
            ),
        }
    }
}

/// The folder this run writes: the output folder, or under dated runs a new dated folder (the
/// newest run's, to resume it).
fn run_folder(settings: &RunDraft, resume: bool) -> Result<PathBuf> {
    if !settings.dated {
        return Ok(settings.output.clone());
    }
    if resume {
        return Ok(pipeline::runs::to_resume(&settings.output)?);
    }
    pipeline::runs::create(&settings.output).with_context(|| {
        format!(
            "cannot start a dated run under {}",
            settings.output.display()
        )
    })
}

/// The baseline folder: as given, or for `last` the newest complete dated run before this one.
fn run_baseline(
    args: &RunArgs,
    manifest: &Manifest,
    settings: &RunDraft,
    output: &Path,
) -> Result<Option<PathBuf>> {
    let choice = args.baseline.clone().or_else(|| manifest.baseline.clone());
    match choice {
        None => Ok(None),
        Some(BaselineChoice::Folder(dir)) => Ok(Some(dir)),
        Some(BaselineChoice::Last) if !settings.dated => bail!(
            "--baseline last names the newest complete dated run, but this run is not dated \
             ({} is its folder): add --dated (or `dated: true`), or name the baseline folder",
            settings.output.display()
        ),
        Some(BaselineChoice::Last) => {
            let last = pipeline::runs::newest_complete(&settings.output, output)
                .with_context(|| format!("cannot list {}", settings.output.display()))?;
            match &last {
                Some(dir) => eprintln!("pff: baseline: the last complete run, {}", dir.display()),
                None => eprintln!(
                    "pff: baseline last: no earlier complete run under {}; every finding is new",
                    settings.output.display()
                ),
            }
            Ok(last)
        }
    }
}

/// The closing line of a run or merge against a baseline.
fn print_baseline(b: &crate::report::BaselineCounts) {
    eprintln!(
        "pff: against the baseline: {} new ({} error, {} warning, {} info), {} known, {} fixed (fixed.jsonl)",
        b.new.total(),
        b.new.error,
        b.new.warning,
        b.new.info,
        b.known,
        b.fixed
    );
}

/// The closing lines of a run on standard error: its counts, and against a baseline.
fn print_ending(s: &pipeline::RunSummary, output: &Path) {
    eprintln!(
        "pff: {}: {}/{} tasks done, {} failed; {} findings ({} error, {} warning, {} info); results in {}",
        s.execution_id,
        s.tasks_done,
        s.tasks,
        s.tasks_failed,
        s.findings.total(),
        s.findings.error,
        s.findings.warning,
        s.findings.info,
        output.display()
    );
    if let Some(b) = &s.baseline {
        print_baseline(b);
    }
}

/// Says what a run or merge did not check: tasks without a result, rules cut short.
fn print_incomplete(s: &pipeline::RunSummary) {
    if s.tasks_unchecked > 0 {
        eprintln!(
            "pff: error: {} of {} tasks have no result; the run is not complete (exit {}):",
            s.tasks_unchecked,
            s.tasks,
            exit::ERROR
        );
        for u in &s.unchecked {
            eprintln!("pff:   {u}");
        }
    }
    if !s.cut_short.is_none() {
        eprintln!(
            "pff: {} record(s) not fully checked: {} (exit {} unless worse)",
            s.cut_short.records,
            s.cut_short.describe(),
            exit::INCOMPLETE
        );
    }
}

/// A run's diagnostic lines: on standard error with `-v`, appended with times to `--log FILE`.
struct Diagnostics {
    verbose: bool,
    file: Option<std::sync::Mutex<File>>,
}

impl Diagnostics {
    fn open(verbose: bool, log: Option<&Path>) -> Result<Self> {
        let file = log
            .map(|p| {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("cannot open the log {}", p.display()))
            })
            .transpose()?
            .map(std::sync::Mutex::new);
        Ok(Self { verbose, file })
    }

    /// The lines about how a run ended.
    fn outcome(&self, outcome: &pipeline::RunOutcome, started: std::time::Instant) {
        self.line(&format!(
            "run ended after {:.2} s with exit code {}: at most {} tasks in flight, {} rule \
             chunks held; {} task files moved aside",
            started.elapsed().as_secs_f64(),
            outcome.code,
            outcome.max_in_flight,
            outcome.max_rule_batches,
            outcome.rejected.len()
        ));
        if let Some(s) = &outcome.summary {
            self.line(&format!(
                "{}/{} tasks done, {} failed; findings {} error, {} warning, {} info",
                s.tasks_done,
                s.tasks,
                s.tasks_failed,
                s.findings.error,
                s.findings.warning,
                s.findings.info
            ));
        }
    }

    fn line(&self, text: &str) {
        if self.verbose {
            for l in text.lines() {
                eprintln!("pff: {l}");
            }
        }
        if let Some(f) = &self.file {
            let t = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            let mut f = f.lock().unwrap_or_else(|p| p.into_inner());
            for l in text.lines() {
                // The log is a diagnostic aid: a failed write must not stop the run.
                let _ = writeln!(f, "{t:.3} {l}");
            }
        }
    }
}

/// The run's manifest: read, its execution id settled, where its sources were found said.
fn load_run_manifest(args: &RunArgs, diag: &Diagnostics) -> Result<Manifest> {
    diag.line(&format!(
        "pff {} (commit {}): {}",
        env!("CARGO_PKG_VERSION"),
        env!("PFF_COMMIT"),
        std::env::args().collect::<Vec<_>>().join(" ")
    ));
    let mut manifest = Manifest::load_with_tasks(&args.manifest, args.tasks.as_deref())?;
    if manifest.execution_id_generated {
        adopt_execution_id(args, &mut manifest)?;
    }
    if manifest.sources_from_cwd > 0 && !args.quiet {
        eprintln!(
            "pff: note: {} of {} task sources were found in the working directory, not beside \
             the manifest",
            manifest.sources_from_cwd,
            manifest.tasks.len()
        );
    }
    diag.line(&format!(
        "manifest {}: execution {}, {} tasks",
        args.manifest.display(),
        manifest.execution_id,
        manifest.tasks.len()
    ));
    Ok(manifest)
}

/// A manifest without `execution_id` runs as `exec-YYYYmmddHHMM`; resuming it continues the
/// execution recorded in the `--output` folder.
fn adopt_execution_id(args: &RunArgs, manifest: &mut Manifest) -> Result<()> {
    if !args.resume {
        if !args.quiet {
            eprintln!(
                "pff: note: the manifest names no execution_id: running as {}",
                manifest.execution_id
            );
        }
        return Ok(());
    }
    let Some(out) = &args.output else {
        bail!(
            "the manifest names no execution_id, so --resume needs the run's folder: pass \
             --output (e.g. out/{})",
            manifest.execution_id
        );
    };
    match pipeline::read_marker(out)? {
        Some(info) => manifest.execution_id = info.execution_id,
        None => bail!("{} holds no execution to resume", out.display()),
    }
    Ok(())
}

/// A run's rules: read once, checked, and filed on disk beyond the batch (with a spinner on a
/// terminal: filing a million rules takes seconds).
fn open_run_rules(settings: &RunDraft, quiet: bool) -> Result<RuleSource> {
    let min_confidence = settings.spec.checks.min_confidence;
    let opened = std::time::Instant::now();
    let spinner = (!quiet && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("reading and checking the rules");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let n = settings.rule_batch;
    let filter = crate::rules::compiled::Filter {
        min_confidence,
        ..crate::rules::compiled::Filter::all()
    };
    let (files, cache) = (&settings.spec.rules, settings.cache.as_deref());
    let rules = super::settings::open_rules(files, filter, n, cache, &settings.output);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let rules = rules?;
    warn_without_counts(&rules);
    if let (Some(store), false) = (rules.store(), quiet) {
        let place = match &rules.header().compiled_in {
            Some(dir) => format!("compiled in {}", dir.display()),
            None => "filed on disk".to_string(),
        };
        eprintln!(
            "pff: {} rules {place} under {} anchors ({:.1} s); each record reads the rules \
             it can use, {n} at a time",
            rules.len(),
            store.anchors(),
            opened.elapsed().as_secs_f64()
        );
    }
    Ok(rules)
}

/// The manifest as the shards read it, kept in the first shard's folder `dir` (the original
/// may be gone), checked against the digest they recorded.
fn recorded_manifest(dir: &Path, info: &pipeline::ExecutionSpec) -> Result<String> {
    // The manifest as the shards read it, kept in their folders: the original may be gone.
    let copy = dir.join(pipeline::MANIFEST_COPY);
    let text =
        crate::files::read_bounded_text(&copy, defaults::MAX_SETTINGS_FILE).with_context(|| {
            format!(
                "cannot read {} (shards of an older pff have none: run them again)",
                copy.display()
            )
        })?;
    if format!("{:016x}", pipeline::fnv1a(text.as_bytes())) != info.manifest_digest {
        bail!(
            "{} differs from the manifest the shards ran with; run them again",
            copy.display()
        );
    }
    Ok(text)
}

/// The rules the shards checked with (the same files, unchanged, filtered by the recorded
/// `min_confidence`: the same rules with the same indices), and the merged execution's spec:
/// the shards', with this command's reports and `--fail-on-new` added.
fn merged_spec(
    args: &MergeArgs,
    info: pipeline::ExecutionSpec,
) -> Result<(RuleSource, pipeline::ExecutionSpec)> {
    let digest = pipeline::rules_digest(&info.rules).context("cannot read the rules")?;
    if digest != info.rules_digest {
        bail!(
            "the rules files changed since the shards ran (digest {digest}, shards {}); rerun them",
            info.rules_digest
        );
    }
    // The same rules, with the same indices, as the shards: the files filtered by the
    // recorded min_confidence.
    let min_confidence = info.checks.min_confidence;
    let rules = RuleSource::open(&info.rules, min_confidence, defaults::RUN_RULE_BATCH)?;
    // The shards' settings, with the reports and `--fail-on-new` of this command added.
    let mut reports = info.reports.clone();
    for f in &args.formats {
        if !reports.contains(f) {
            reports.push(*f);
        }
    }
    let info = pipeline::ExecutionSpec {
        reports,
        fail_on_new: info.fail_on_new || args.fail_on_new,
        ..info
    };
    Ok((rules, info))
}

/// `pff merge`: shard folders into one execution.
pub fn merge(args: MergeArgs) -> Result<u8> {
    let mut shards = Vec::new();
    for dir in &args.shards {
        let info = pipeline::read_marker(dir)?
            .ok_or_else(|| pipeline::MergeError::NotAnOutput(dir.display().to_string()))?;
        shards.push((dir.clone(), info));
    }
    let info = pipeline::check_shards(&shards)?;
    let text = recorded_manifest(&shards[0].0, &info)?;
    let manifest = Manifest::parse_recorded(&info.manifest, &text, info.tasks_file.as_deref())?;
    let (rules, info) = merged_spec(&args, info)?;
    let command: Vec<String> = std::env::args().collect();
    let folder = pipeline::OutputFolder::lock(&args.output, &command.join(" "))?;
    let marker = pipeline::prepare_merge(&folder, &info)?;
    pipeline::write_atomic(&args.output.join(pipeline::MANIFEST_COPY), text.as_bytes())
        .with_context(|| format!("cannot write to {}", args.output.display()))?;
    let chosen = match (&args.baseline, &manifest.baseline) {
        (Some(dir), _) | (None, Some(BaselineChoice::Folder(dir))) => Some(dir),
        (None, Some(BaselineChoice::Last)) => bail!(
            "the manifest's `baseline: last` names a dated run; a merge needs a baseline folder: \
             pass --baseline DIR"
        ),
        (None, None) => None,
    };
    let mut baseline = match chosen {
        Some(dir) => {
            pipeline::Baseline::refuse_self(dir, &args.output)?;
            let b = pipeline::Baseline::load(dir, &marker.info)?;
            for (file, why) in b.skipped() {
                eprintln!(
                    "pff: warning: baseline task file {file} cannot be read ({why}); its \
                     findings count as new"
                );
            }
            Some(b)
        }
        None => None,
    };
    let never = AtomicBool::new(false);
    let to = pipeline::MergeTo {
        folder: &folder,
        marker,
        baseline: baseline.as_mut(),
    };
    let s = pipeline::merge(&rules, &manifest.tasks, &shards, to, &never)?;
    eprintln!(
        "pff: merged {} shards of {}: {} tasks, {} failed; {} findings; results in {}",
        shards.len(),
        s.execution_id,
        s.tasks,
        s.tasks_failed,
        s.findings.total(),
        args.output.display()
    );
    if let Some(b) = &s.baseline {
        print_baseline(b);
    }
    print_incomplete(&s);
    Ok(s.exit_code())
}
