//! Each command as a short pipeline of library calls, on settings resolved once.

use std::fs::{self, File};
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use anyhow::{Context, Result, bail};

use super::args::{
    CalibrateArgs, DoctorArgs, GenerateArgs, ManArgs, MergeArgs, RunArgs, TriplesArgs, ValidateArgs,
};
use super::settings::{RunSettings, ValidateSettings, override_checks};
use crate::check::SourceChecker;
use crate::defaults;
use crate::exit;
use crate::hardware::{Machine, Plan, Requests};
use crate::manifest::{BaselineChoice, Manifest};
use crate::pipeline::{self, RunConfig};
use crate::report::RunInfo;
use crate::rules::{RuleSource, load_rules};
use crate::triples::{Format, input};
use crate::validate::{self, Event};

/// Sizes rayon's global pool once; `None` keeps the machine's available parallelism.
pub fn init_workers(max_workers: Option<usize>) -> Result<usize> {
    // The CPUs only (what `Machine::detect` reports as `cpus`): no memory probe on every
    // `validate`'s start.
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let ceiling = crate::hardware::thread_ceiling(cpus);
    let n = match max_workers {
        Some(0) => bail!("--max-workers must be at least 1"),
        Some(n) if n > ceiling => {
            eprintln!(
                "pff: warning: --max-workers {n} is more than {} per CPU ({cpus} CPUs): using \
                 {ceiling} (more threads only contend for the CPUs)",
                crate::hardware::MAX_THREADS_PER_CPU
            );
            ceiling
        }
        Some(n) => n,
        None => cpus,
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("cannot start the worker threads")?;
    Ok(n)
}

/// Standard output or a file, buffered. A regular file is written under a temporary name
/// beside it and renamed into place by [`Output::finish`]: a command that fails leaves the
/// file as it was (never empty or half written). A device or a pipe is written directly.
fn output(path: Option<&Path>) -> Result<Output> {
    let Some(p) = path else {
        return Ok(Output {
            w: Box::new(BufWriter::new(io::stdout().lock())),
            staged: None,
        });
    };
    let special = std::fs::metadata(p).is_ok_and(|m| !m.is_file());
    if special {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .with_context(|| format!("cannot open {}", p.display()))?;
        return Ok(Output {
            w: Box::new(BufWriter::new(f)),
            staged: None,
        });
    }
    let tmp = crate::pipeline::folder::temp_path(p);
    let f = crate::pipeline::folder::create_new(&tmp)
        .with_context(|| format!("cannot create {}", p.display()))?;
    Ok(Output {
        w: Box::new(BufWriter::new(f)),
        staged: Some((tmp, p.to_path_buf())),
    })
}

/// Where a command writes: see [`output`].
struct Output {
    w: Box<dyn Write>,
    /// (temporary name, final name) of a regular file not yet in place.
    staged: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Output {
    /// Flushes, and puts a file in place.
    fn finish(mut self) -> Result<()> {
        self.w.flush().context("cannot write the output")?;
        if let Some((tmp, path)) = self.staged.take() {
            std::fs::rename(&tmp, &path).with_context(|| {
                let _ = std::fs::remove_file(&tmp);
                format!("cannot write {}", path.display())
            })?;
        }
        Ok(())
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.w.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        // Not finished: the temporary file (ours, created exclusively) goes.
        if let Some((tmp, _)) = self.staged.take() {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

/// `pff validate`: one data file, a report out.
pub fn validate(mut args: ValidateArgs) -> Result<u8> {
    args.format = args
        .format_given
        .or_else(|| args.output.as_deref().and_then(format_of_extension))
        .unwrap_or(crate::report::OutputFormat::Human);
    let mut outputs = Vec::new();
    if let Some(o) = &args.output {
        outputs.push(("-o", o.as_path()));
    }
    if let Some(o) = &args.rule_stats {
        outputs.push(("--rule-stats", o.as_path()));
    }
    let mut inputs = vec![args.data.as_path()];
    inputs.extend(args.rules.iter().map(|p| p.as_path()));
    crate::files::check_outputs(&outputs, &inputs)?;
    init_workers(args.max_workers)?;
    let mut settings = ValidateSettings::resolve(&args)?;
    let rules = RuleSource::open_filtered(
        &settings.rule_files,
        settings.keep,
        settings.rule_batch,
        &std::env::temp_dir(),
    )?;
    warn_without_counts(&rules);
    adopt_id_triples(&mut settings.mapping, &rules, settings.recorded);
    let encoding_warning = check_encoding(
        &args.data,
        args.input.format(),
        &settings.mapping,
        &rules,
        args.strict,
    )?;
    let severity = settings.opts.severity;
    // Opened with a store folder: the rules are in memory or filed.
    let source_checker = SourceChecker::new(&rules, settings.opts)
        .context("the rules do not fit in memory and were not filed on disk")?;
    if args.format == crate::report::OutputFormat::Xlsx
        && args.output.is_none()
        && io::stdout().is_terminal()
    {
        bail!("an xlsx report is a binary workbook: write it to a file with -o report.xlsx");
    }
    let mut out = output(args.output.as_deref())?;
    let color = args.output.is_none()
        && io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let mut exporter = args.format.exporter(args.top, color);
    let info = RunInfo {
        fail_on: Some(args.fail_on),
        data: args.data.display().to_string(),
        rules: rules.header().source.clone(),
        rule_count: rules.len(),
        severity,
    };
    let mut failed_records = Vec::new();
    let format = args.input.format();
    let checker = source_checker.get();
    let mapping = &settings.mapping;
    let (mut summary, stats) =
        validate::check_file(checker, &args.data, format, mapping, |event| match event {
            Event::Begin => exporter.begin(&mut out, &info),
            Event::Record(report) => {
                if let Some(e) = &report.error {
                    failed_records.push(e.clone());
                }
                exporter.record(&mut out, report)
            }
        })?;
    summary.fail_on = Some(args.fail_on);
    summary.warnings.extend(encoding_warning);
    // Records are judged by their strongest finding (by their violations in counts-only
    // mode, which has no findings).
    let policy = crate::report::FailPolicy {
        on: args.fail_on,
        count: args.fail_on_count,
        ratio: args.fail_on_ratio,
    };
    if !(0.0..=1.0).contains(&policy.ratio) {
        bail!("--fail-on-ratio is a share of records in [0, 1]");
    }
    summary.judge(&policy, false);
    exporter.finish(&mut out, &summary)?;
    out.finish().context("cannot write the report")?;
    if let Some(path) = &args.rule_stats {
        let mut w = output(Some(path))?;
        stats.write(&rules, &mut w)?;
        w.finish()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    for e in &failed_records {
        eprintln!("pff: error: {e}");
    }
    if !failed_records.is_empty() && (io::stderr().is_terminal() || args.output.is_some()) {
        eprintln!(
            "pff: {} record(s) could not be checked",
            failed_records.len()
        );
    }
    if !summary.cut_short.is_none() {
        eprintln!(
            "pff: exit {}: {} record(s) not fully checked: {}",
            exit::INCOMPLETE,
            summary.cut_short.records,
            summary.cut_short.describe()
        );
    }
    if summary.verdict == crate::report::Verdict::Findings {
        eprintln!("pff: {}", fail_reason(&summary.findings, args.fail_on));
    }
    Ok(exit::code(exit::Ending {
        failed_records: failed_records.len(),
        incomplete: !summary.cut_short.is_none(),
        fails: summary.verdict == crate::report::Verdict::Findings,
        ..exit::Ending::default()
    }))
}

/// The report format a file name asks for by its extension.
fn format_of_extension(path: &Path) -> Option<crate::report::OutputFormat> {
    use crate::report::OutputFormat as F;
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some(match ext.as_str() {
        "json" => F::Json,
        "jsonl" | "ndjson" => F::Jsonl,
        "md" | "markdown" => F::Markdown,
        "xml" => F::Junit,
        "sarif" => F::Sarif,
        "xlsx" => F::Xlsx,
        "txt" => F::Human,
        _ => return None,
    })
}

/// Why a command exits 1: `6 error findings; --fail-on error`.
fn fail_reason(c: &crate::report::SeverityCounts, fail_on: crate::report::FailOn) -> String {
    let mut parts = Vec::new();
    for (n, level) in [(c.error, "error"), (c.warning, "warning"), (c.info, "info")] {
        if n > 0 {
            parts.push(format!("{n} {level}"));
        }
        if level == format!("{fail_on:?}").to_lowercase() {
            break;
        }
    }
    format!(
        "exit 1: {} findings; --fail-on {}",
        parts.join(", "),
        format!("{fail_on:?}").to_lowercase()
    )
}

/// `pff triples`: a data file as AnyBURL training triples.
pub fn triples(args: TriplesArgs) -> Result<u8> {
    if let Some(o) = &args.output {
        crate::files::check_outputs(&[("-o", o)], &[&args.data])?;
    }
    let mut out = output(args.output.as_deref())?;
    write_triples(&args.data, &args.input, &mut out)?;
    out.finish().context("cannot write the triples")?;
    Ok(exit::CLEAN)
}

/// The triples of every record of `data` under the flags' mapping, as AnyBURL training data
/// (what `pff triples` and `pff learn` write); their count.
pub(super) fn write_triples(
    data: &Path,
    input: &super::args::InputArgs,
    out: &mut impl Write,
) -> Result<u64> {
    let mut n = 0u64;
    input::for_each_record_triples(data, input.format(), &input.mapping(), |b| {
        n += crate::triples::tsv::write(&mut *out, b.unique_triples())? as u64;
        Ok::<(), anyhow::Error>(())
    })?;
    Ok(n)
}

/// `pff run`: a manifest's tasks, sized to the machine.
pub fn run(mut args: RunArgs) -> Result<u8> {
    let diag = Diagnostics::open(args.verbose, args.log.as_deref())?;
    let started = std::time::Instant::now();
    let mut manifest = load_run_manifest(&args, &diag)?;
    let recorded = super::settings::apply_rule_set(&mut args, &mut manifest)?
        || manifest.checks.given.id_triples;
    override_checks(&args, &mut manifest)?;
    let mut settings = RunSettings::resolve(&args, &manifest)?;
    for w in &settings.plan.warnings {
        eprintln!("pff: warning: {w}");
    }
    if args.dry_run {
        println!("{}", settings.plan.describe());
        println!("{}", settings.describe(&manifest));
        return Ok(exit::CLEAN);
    }
    diag.line(&settings.plan.describe());
    diag.line(&settings.describe(&manifest));
    settings.plan.preflight()?;
    let rules = open_run_rules(&settings, manifest.checks.min_confidence, args.quiet)?;
    adopt_id_triples(&mut manifest.checks.mapping, &rules, recorded);
    settings.mapping = manifest.checks.mapping.clone();
    // The encoding, on the first task read from a file (an API is not asked twice).
    let first_file = manifest
        .tasks
        .iter()?
        .take(100)
        .find_map(|t| match &t.ok()?.1.source {
            crate::manifest::Source::File(p) => Some(p.clone()),
            crate::manifest::Source::Url(_) => None,
        });
    let mut warnings = Vec::new();
    if let Some(p) = first_file {
        let format = input::format_of(&p.display().to_string(), None, Some(Format::Json)).ok();
        warnings.extend(check_encoding(
            &p,
            format,
            &manifest.checks.mapping,
            &rules,
            args.strict,
        )?);
    }
    diag.line(&format!(
        "rules: {} read in {:.2} s, {}",
        rules.len(),
        started.elapsed().as_secs_f64(),
        if rules.in_memory() {
            "held in memory"
        } else {
            "filed on disk by anchor"
        }
    ));
    let fail_on_new = args.fail_on_new || manifest.fail_on_new;
    let output = run_folder(&settings, args.resume)?;
    let baseline = run_baseline(&args, &manifest, &settings, &output)?;
    let outcome = pipeline::run(
        &rules,
        &settings.opts,
        &RunConfig {
            manifest: &manifest,
            info: settings.execution(&args.manifest, &manifest)?,
            shard: settings.shard,
            mapping: settings.mapping.clone(),
            plan: &settings.plan,
            output: output.clone(),
            resume: args.resume,
            fresh: args.fresh,
            quiet: args.quiet,
            reports: args.formats.clone(),
            fetch: settings.fetch.clone(),
            baseline,
            fail_on_new,
            warnings,
            command: std::env::args().collect::<Vec<_>>().join(" "),
            observer: std::sync::Arc::new(Terminal { quiet: args.quiet }),
        },
    )?;
    diag.line(&format!(
        "run ended after {:.2} s with exit code {}: at most {} tasks in flight, {} rule chunks \
         held; {} task files moved aside",
        started.elapsed().as_secs_f64(),
        outcome.code,
        outcome.max_in_flight,
        outcome.max_rule_batches,
        outcome.rejected.len()
    ));
    if let Some(s) = &outcome.summary {
        diag.line(&format!(
            "{}/{} tasks done, {} failed; findings {} error, {} warning, {} info",
            s.tasks_done,
            s.tasks,
            s.tasks_failed,
            s.findings.error,
            s.findings.warning,
            s.findings.info
        ));
    }
    let Some(s) = &outcome.summary else {
        eprintln!(
            "pff: stopped before the final outputs were written; `pff run {} --resume` writes them",
            args.manifest.display()
        );
        return Ok(outcome.code);
    };
    print_incomplete(s);
    if outcome.code == exit::VIOLATIONS {
        match (&s.baseline, fail_on_new) {
            (Some(b), true) => eprintln!(
                "pff: {} (new against the baseline)",
                fail_reason(&b.new, manifest.checks.fail_on)
            ),
            _ => eprintln!("pff: {}", fail_reason(&s.findings, manifest.checks.fail_on)),
        }
    }
    if !args.quiet {
        print_ending(s, &output);
    }
    Ok(outcome.code)
}

/// A run's notices on standard error (warnings only without `--quiet`); a second signal quits
/// at once with 128 + the signal, as the first one says.
struct Terminal {
    quiet: bool,
}

impl pipeline::Observer for Terminal {
    fn notice(&self, notice: pipeline::Notice<'_>) {
        match notice {
            pipeline::Notice::Stopping => eprintln!(
                "pff: stopping: finishing tasks in flight (signal again to quit at once); \
                 `--resume` continues the execution"
            ),
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

    fn second_signal(&self, sig: i32) {
        std::process::exit(128 + sig);
    }
}

/// The folder this run writes: the output folder, or under dated runs a new dated folder (the
/// newest run's, to resume it).
fn run_folder(settings: &RunSettings, resume: bool) -> Result<PathBuf> {
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
    settings: &RunSettings,
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
fn open_run_rules(settings: &RunSettings, min_confidence: f64, quiet: bool) -> Result<RuleSource> {
    let opened = std::time::Instant::now();
    let spinner = (!quiet && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("reading and checking the rules");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let n = settings.rule_batch;
    let rules = RuleSource::open_indexed(&settings.rule_paths, min_confidence, n, &settings.output);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let rules = rules?;
    warn_without_counts(&rules);
    if let (Some(store), false) = (rules.store(), quiet) {
        eprintln!(
            "pff: {} rules filed on disk under {} anchors in {:.1} s; each record reads the \
             rules it can use, {n} at a time",
            rules.len(),
            store.anchors(),
            opened.elapsed().as_secs_f64()
        );
    }
    Ok(rules)
}

/// Says so when rules came without counts (a plain list of rules): they are taken as certain.
fn warn_without_counts(rules: &RuleSource) {
    let n = rules.header().without_counts;
    if n > 0 {
        eprintln!(
            "pff: warning: {n} rule{} of {} have no counts (predicted TAB correct TAB confidence \
             TAB rule, as AnyBURL writes them): each is taken with confidence 1.0",
            if n == 1 { "" } else { "s" },
            rules.header().source
        );
    }
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
    // The manifest as the shards read it, kept in their folders: the original may be gone.
    let copy = shards[0].0.join(pipeline::MANIFEST_COPY);
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
    let mut manifest = Manifest::parse_recorded(&info.manifest, &text, info.tasks_file.as_deref())?;
    if let Some(checks) = &info.checks {
        checks.apply(&mut manifest.checks);
    }
    let digest = pipeline::rules_digest(&info.rules).context("cannot read the rules")?;
    if digest != info.rules_digest {
        bail!(
            "the rules files changed since the shards ran (digest {digest}, shards {}); rerun them",
            info.rules_digest
        );
    }
    // The same rules, with the same indices, as the shards: the files filtered by the
    // manifest's min_confidence.
    let min_confidence = manifest.checks.min_confidence;
    let rules = RuleSource::open(&info.rules, min_confidence, defaults::RUN_RULE_BATCH)?;
    let formats = manifest.report_formats(&args.formats);
    let command: Vec<String> = std::env::args().collect();
    let folder = pipeline::OutputFolder::lock(&args.output, &command.join(" "))?;
    let marker = pipeline::prepare_merge(&folder, &info, &formats)?;
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
    let fail_on_new = args.fail_on_new || manifest.fail_on_new;
    let never = AtomicBool::new(false);
    let to = pipeline::MergeTo {
        folder: &folder,
        marker,
        formats: &formats,
        baseline: baseline.as_mut(),
        fail_on_new,
    };
    let s = pipeline::merge(&rules, &manifest, &shards, to, &never)?;
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

/// Rules that speak of the id key as a relation (learned on a graph with `(X, id, X)` for every
/// node, as the predecessor's) are checked with those triples, said once; a rule set or the
/// user decides otherwise.
fn adopt_id_triples(
    mapping: &mut crate::triples::json::Mapping,
    rules: &RuleSource,
    recorded: bool,
) {
    if mapping.id_triples || recorded {
        return;
    }
    let per_relation = rules.rules_per_relation();
    if let Some(n) = crate::encoding::wants_id_triples(&per_relation, rules.len(), &mapping.id_key)
    {
        mapping.id_triples = true;
        eprintln!(
            "pff: note: {n} of {} rules use `{}` as a relation, as in a graph that holds (X, {}, \
             X) for every node: checking with those triples (--id-triples)",
            rules.len(),
            mapping.id_key,
            mapping.id_key
        );
    }
}

/// Says once when the rules mostly use relations the data's first records never give under
/// `mapping` (an error under `strict`); triples files and standard input are not sampled.
fn check_encoding(
    data: &Path,
    given: Option<crate::triples::Format>,
    mapping: &crate::triples::json::Mapping,
    rules: &RuleSource,
    strict: bool,
) -> Result<Option<String>> {
    let Ok(format) = input::file_format(data, given) else {
        return Ok(None);
    };
    if format == crate::triples::Format::Tsv {
        return Ok(None);
    }
    let Some(sample) = crate::encoding::read_sample(data, format) else {
        return Ok(None);
    };
    let per_relation = rules.rules_per_relation();
    let Some(m) = crate::encoding::diagnose(&sample, format, mapping, &per_relation, rules.len())
    else {
        return Ok(None);
    };
    if strict {
        bail!("{m} (--strict)");
    }
    eprintln!("pff: warning: {m}");
    Ok(Some(m.to_string()))
}

/// `pff calibrate`: cut points from clean reference records.
pub fn calibrate(args: CalibrateArgs) -> Result<u8> {
    if let Some(o) = &args.output {
        let mut inputs = vec![args.reference.as_path()];
        inputs.extend(args.rules.iter().map(|p| p.as_path()));
        crate::files::check_outputs(&[("-o", o)], &inputs)?;
    }
    init_workers(args.max_workers)?;
    let with = super::settings::rules_with(&args.rules, &args.input, None, None)?;
    let rules = RuleSource::open_filtered(
        &with.resolved.files,
        Box::new(|_| true),
        defaults::VALIDATE_RULE_BATCH,
        &std::env::temp_dir(),
    )?;
    // Every finding is listed (no evidence is needed beyond the first ones): what counts is
    // the scores and where the corruptions show.
    let opts = crate::check::Options {
        max_violations: 100,
        ..crate::check::Options::default()
    };
    let source_checker = SourceChecker::new(&rules, opts)
        .context("the rules do not fit in memory and were not filed on disk")?;
    let mut mapping = with.mapping;
    adopt_id_triples(&mut mapping, &rules, with.resolved.info.is_some());
    check_encoding(
        &args.reference,
        args.input.format(),
        &mapping,
        &rules,
        false,
    )?;
    let c = crate::calibrate::calibrate(
        source_checker.get(),
        &args.reference,
        args.input.format(),
        &mapping,
        crate::calibrate::Targets {
            errors: args.errors,
            warnings: args.warnings,
        },
        args.corruptions,
    )?;
    let pct = |n: usize| 100.0 * n as f64 / c.corruptions.max(1) as f64;
    let text = format!(
        "# pff calibrate on {} ({} clean records, {} unreadable; {} rules): the median clean \
         record keeps at most {} error and {} error+warning findings.\n# {} corruptions made: \
         {:.0}% pointed at by a finding, {:.0}% at warning or above, {:.0}% at error.\n\
         error_confidence: {}\nwarning_confidence: {}\n",
        args.reference.display(),
        c.records,
        c.unreadable,
        rules.len(),
        args.errors,
        args.errors + args.warnings,
        c.corruptions,
        pct(c.found),
        pct(c.found_warning),
        pct(c.found_error),
        c.error_confidence,
        c.warning_confidence
    );
    let mut out = output(args.output.as_deref())?;
    out.write_all(text.as_bytes())?;
    out.finish().context("cannot write the cut points")?;
    // One rule set named: its cut points are recorded with it, for every later check.
    if let (Some(mut info), Some(dir), 1) =
        (with.resolved.info, with.resolved.from, args.rules.len())
    {
        let reference = args.reference.display().to_string();
        info.severities = Some(crate::ruleset::Severities {
            error_confidence: c.error_confidence,
            warning_confidence: c.warning_confidence,
            reference_digest: if reference == input::STDIN {
                "standard input".into()
            } else {
                crate::ruleset::file_digest(&args.reference)
                    .with_context(|| format!("cannot read {reference}"))?
            },
            reference,
        });
        crate::ruleset::write_info(&dir, &info)?;
        eprintln!(
            "pff: cut points recorded in the rule set {} (validate and run use them)",
            dir.display()
        );
    }
    Ok(exit::CLEAN)
}

/// `pff rules import`: a rule set folder from a rules file learned elsewhere.
pub fn rules_import(args: super::args::ImportArgs) -> Result<u8> {
    if args.output.exists() {
        bail!(
            "{} exists; name a new folder for the rule set",
            args.output.display()
        );
    }
    // Only rules pff can read go in.
    let rs = load_rules(&args.rules)?;
    fs::create_dir_all(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    crate::learn::install(&args.rules, &args.output.join(crate::ruleset::RULES_FILE))?;
    let mut info = crate::ruleset::new_info(&args.input.mapping(), None);
    info.imported = Some((
        args.rules.display().to_string(),
        crate::ruleset::file_digest(&args.rules)
            .with_context(|| format!("cannot read {}", args.rules.display()))?,
    ));
    crate::ruleset::write_info(&args.output, &info)?;
    eprintln!(
        "pff: {} rules of {} -> rule set {} (encoding {}); `pff calibrate CLEAN --rules {}` \
         records its cut points",
        rs.rules.len(),
        args.rules.display(),
        args.output.display(),
        crate::ruleset::describe(&info.encoding),
        args.output.display()
    );
    Ok(exit::CLEAN)
}

/// `pff rules stats`: what a rules file holds.
pub fn rules_stats(rules: &Path, json: bool, top: usize) -> Result<u8> {
    let rs = load_rules(rules)?;
    let stats = crate::rules::stats::RuleSetStats::of(&rs, top);
    if json {
        println!("{}", serde_json::to_string_pretty(&stats)?);
    } else {
        print!("{}", stats.render());
    }
    Ok(exit::CLEAN)
}

/// `pff generate`: MSISDNs from any text into a task list or a manifest.
pub fn generate(args: GenerateArgs) -> Result<u8> {
    use std::io::Read;
    if let Some(o) = &args.output {
        crate::files::check_outputs(&[("-o", o)], &[&args.input])?;
    }
    let mut text = String::new();
    if args.input.as_os_str() == "-" {
        let max = crate::defaults::MAX_SETTINGS_FILE;
        io::stdin()
            .take(max + 1)
            .read_to_string(&mut text)
            .context("cannot read standard input")?;
        if text.len() as u64 > max {
            bail!(
                "standard input holds more than the {} MiB pff generate reads",
                max >> 20
            );
        }
    } else {
        let bytes = crate::files::read_bounded(&args.input, crate::defaults::MAX_SETTINGS_FILE)
            .with_context(|| format!("cannot read {}", args.input.display()))?;
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let keys = crate::generate::msisdns(&text);
    if keys.is_empty() {
        bail!(
            "{} holds no line number (11 to 13 digits)",
            args.input.display()
        );
    }
    let body = match &args.manifest {
        Some(id) => crate::generate::manifest(id, &keys, args.source.as_deref()),
        None => keys.iter().map(|k| format!("{k}\n")).collect(),
    };
    let mut out = output(args.output.as_deref())?;
    out.write_all(body.as_bytes())?;
    out.finish().context("cannot write the tasks")?;
    eprintln!("pff: {} line numbers", keys.len());
    Ok(exit::CLEAN)
}

/// `pff completions SHELL`: a completion script generated from the command definitions.
pub fn completions(shell: clap_complete::Shell) -> Result<u8> {
    let mut cmd = <super::Cli as clap::CommandFactory>::command();
    // Generated in memory, then written: clap_complete panics on a write error (a closed
    // pipe), and a closed pipe is the reader's choice, not an error.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "pff", &mut script);
    let mut out = io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .context("cannot write the completions")?;
    Ok(exit::CLEAN)
}

/// `pff man`: manual pages generated from the command definitions, one per command (the page
/// of `pff validate` is `pff-validate(1)`).
pub fn man(args: ManArgs) -> Result<u8> {
    let mut root = <super::Cli as clap::CommandFactory>::command()
        .disable_help_subcommand(true)
        .propagate_version(true);
    root.build();
    if let Some(dir) = &args.dir {
        fs::create_dir_all(dir).with_context(|| format!("cannot make {}", dir.display()))?;
        let mut written = 0;
        write_pages(&root, dir, &mut written)?;
        eprintln!("pff: {written} manual pages in {}", dir.display());
        return Ok(exit::CLEAN);
    }
    let mut cmd = &root;
    for name in &args.command {
        cmd = cmd.find_subcommand(name).ok_or_else(|| {
            let known: Vec<&str> = cmd.get_subcommands().map(|c| c.get_name()).collect();
            anyhow::anyhow!(
                "`{}` has no command `{name}`; its commands: {}",
                cmd.get_bin_name().unwrap_or("pff"),
                known.join(", ")
            )
        })?;
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd.clone()).render(&mut page)?;
    let mut out = io::stdout().lock();
    out.write_all(&page)
        .and_then(|()| out.flush())
        .context("cannot write the manual page")?;
    Ok(exit::CLEAN)
}

/// Writes the page of `cmd` and of each of its commands into `dir`, each a new file.
fn write_pages(cmd: &clap::Command, dir: &Path, written: &mut usize) -> Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        write_pages(sub, dir, written)?;
    }
    let man = clap_mangen::Man::new(cmd.clone());
    let path = dir.join(man.get_filename());
    let mut page = Vec::new();
    man.render(&mut page)?;
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .with_context(|| {
            format!(
                "cannot write {} (a page already there is never replaced: choose an empty folder)",
                path.display()
            )
        })?;
    f.write_all(&page)
        .with_context(|| format!("cannot write {}", path.display()))?;
    *written += 1;
    Ok(())
}

/// `pff doctor`: the machine, its profile and the plan a run would use.
pub fn doctor(args: DoctorArgs) -> Result<u8> {
    let plan = Plan::new(
        Machine::detect(),
        Requests {
            cli_workers: args.max_workers,
            memory_limit: args.memory_limit,
            ..Requests::default()
        },
    );
    println!("{}", plan.describe());
    Ok(exit::CLEAN)
}
