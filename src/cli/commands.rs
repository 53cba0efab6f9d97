//! Each command as a short pipeline of library calls, on settings resolved once.

use std::fs;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::Path;

use crate::report::Summary;
use anyhow::{Context, Result, bail};

use super::args::{CalibrateArgs, DoctorArgs, GenerateArgs, ManArgs, TriplesArgs, ValidateArgs};
use super::notes::{adopt_id_triples, check_encoding, fail_reason, warn_without_counts};
use super::settings::ValidateSettings;
use crate::check::SourceChecker;
use crate::defaults;
use crate::exit;
use crate::hardware::{Machine, Plan, Requests};
use crate::pipeline::store::Staged;
use crate::report::RunInfo;
use crate::rules::load_rules;
use crate::triples::input;
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
        return Ok(Output::Stream(BufWriter::new(Box::new(
            io::stdout().lock(),
        ))));
    };
    let special = std::fs::metadata(p).is_ok_and(|m| !m.is_file());
    if special {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(p)
            .with_context(|| format!("cannot open {}", p.display()))?;
        return Ok(Output::Stream(BufWriter::new(Box::new(f))));
    }
    let staged = Staged::create(p).with_context(|| format!("cannot create {}", p.display()))?;
    Ok(Output::File(staged))
}

/// Where a command writes: standard output, a special file (a pipe, `/dev/null`) as it is,
/// or a regular file under a temporary name put in place by [`Output::finish`] (the same
/// [`Staged`] file the output folder of a run uses: dropped unfinished, it is removed).
enum Output {
    Stream(BufWriter<Box<dyn Write>>),
    File(Staged),
}

impl Output {
    /// Flushes, and puts a file in place.
    fn finish(self) -> Result<()> {
        match self {
            Output::Stream(mut w) => w.flush().context("cannot write the output"),
            Output::File(staged) => {
                let path = staged.path().to_path_buf();
                staged
                    .commit()
                    .with_context(|| format!("cannot write {}", path.display()))
            }
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Output::Stream(w) => w.write(buf),
            Output::File(s) => s.writer()?.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Output::Stream(w) => w.flush(),
            Output::File(s) => s.writer()?.flush(),
        }
    }
}

/// `pff validate`: one data file, a report out.
pub fn validate(mut args: ValidateArgs) -> Result<u8> {
    args.format = args
        .format_given
        .or_else(|| args.output.as_deref().and_then(format_of_extension))
        .unwrap_or(crate::report::OutputFormat::Human);
    check_validate_outputs(&args)?;
    init_workers(args.max_workers)?;
    let mut settings = ValidateSettings::resolve(&args)?;
    let rules = super::settings::open_rules(
        &settings.rule_files,
        settings.filter,
        settings.rule_batch,
        settings.cache.as_deref(),
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
    let (checker, format) = (source_checker.get(), args.input.format());
    let (mut summary, stats) = validate::check_file(
        checker,
        &args.data,
        format,
        &settings.mapping,
        |event| match event {
            Event::Begin => exporter.begin(&mut out, &info),
            Event::Record(report) => {
                if let Some(e) = &report.error {
                    failed_records.push(e.clone());
                }
                exporter.record(&mut out, report)
            }
        },
    )?;
    summary.fail_on = Some(args.fail_on);
    summary.warnings.extend(encoding_warning);
    // Records are judged by their strongest finding (by their violations in counts-only
    // mode, which has no findings).
    summary.judge(&settings.fail_policy, false);
    exporter.finish(&mut out, &summary)?;
    out.finish().context("cannot write the report")?;
    if let Some(path) = &args.rule_stats {
        let mut w = output(Some(path))?;
        stats.write(&rules, &mut w)?;
        w.finish()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(validate_ending(&args, &summary, &failed_records))
}

/// Refuses outputs that are inputs, and an xlsx workbook for a terminal.
fn check_validate_outputs(args: &ValidateArgs) -> Result<()> {
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
    if args.format == crate::report::OutputFormat::Xlsx
        && args.output.is_none()
        && io::stdout().is_terminal()
    {
        bail!("an xlsx report is a binary workbook: write it to a file with -o report.xlsx");
    }
    Ok(())
}

/// `pff validate`'s closing lines on standard error and its exit code.
fn validate_ending(args: &ValidateArgs, summary: &Summary, failed_records: &[String]) -> u8 {
    for e in failed_records {
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
    exit::code(exit::Ending {
        failed_records: failed_records.len(),
        incomplete: !summary.cut_short.is_none(),
        fails: summary.verdict == crate::report::Verdict::Findings,
        ..exit::Ending::default()
    })
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

/// `pff calibrate`: cut points from clean reference records.
pub fn calibrate(args: CalibrateArgs) -> Result<u8> {
    if let Some(o) = &args.output {
        let mut inputs = vec![args.reference.as_path()];
        inputs.extend(args.rules.iter().map(|p| p.as_path()));
        crate::files::check_outputs(&[("-o", o)], &inputs)?;
    }
    init_workers(args.max_workers)?;
    let asked = super::settings::asked_by_flags(&args.input);
    let with = super::settings::rules_with(&args.rules, &asked, None, None)?;
    if with.mapping.one_graph {
        // Its corruptions and clean scores are a record's alone: under one graph a record's
        // findings also come from the others, so the cut points would not be those the rules
        // are checked with.
        bail!(
            "pff calibrate checks clean records one at a time, and these rules are checked with \
             the file as one graph (--one-graph): their cut points cannot be calibrated this \
             way; give them with --error-confidence / --warning-confidence (or \
             error_confidence: / warning_confidence: in a manifest)"
        );
    }
    let cache = (!args.no_cache)
        .then(crate::rules::compiled::cache_dir)
        .flatten();
    let rules = super::settings::open_rules(
        &with.resolved.files,
        crate::rules::compiled::Filter::all(),
        defaults::VALIDATE_RULE_BATCH,
        cache.as_deref(),
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
    let text = calibration_text(&args, &c, rules.len());
    let mut out = output(args.output.as_deref())?;
    out.write_all(text.as_bytes())?;
    out.finish().context("cannot write the cut points")?;
    // One rule set named: its cut points are recorded with it, for every later check.
    if let (Some(info), Some(dir), 1) = (with.resolved.info, with.resolved.from, args.rules.len()) {
        record_cut_points(&args.reference, info, &dir, &c)?;
    }
    Ok(exit::CLEAN)
}

/// What `pff calibrate` writes: the cut points as manifest keys, with how they were found.
fn calibration_text(
    args: &CalibrateArgs,
    c: &crate::calibrate::Calibration,
    rules: usize,
) -> String {
    let pct = |n: usize| 100.0 * n as f64 / c.corruptions.max(1) as f64;
    format!(
        "# pff calibrate on {} ({} clean records, {} unreadable; {} rules): the median clean \
         record keeps at most {} error and {} error+warning findings.\n# {} corruptions made: \
         {:.0}% pointed at by a finding, {:.0}% at warning or above, {:.0}% at error.\n\
         error_confidence: {}\nwarning_confidence: {}\n",
        args.reference.display(),
        c.records,
        c.unreadable,
        rules,
        args.errors,
        args.errors + args.warnings,
        c.corruptions,
        pct(c.found),
        pct(c.found_warning),
        pct(c.found_error),
        c.error_confidence,
        c.warning_confidence
    )
}

/// Records calibrated cut points in the rule set folder `dir`, with the reference data's
/// digest.
fn record_cut_points(
    reference_path: &Path,
    mut info: crate::ruleset::RuleSetInfo,
    dir: &Path,
    c: &crate::calibrate::Calibration,
) -> Result<()> {
    let reference = reference_path.display().to_string();
    info.severities = Some(crate::ruleset::Severities {
        error_confidence: c.error_confidence,
        warning_confidence: c.warning_confidence,
        reference_digest: if reference == input::STDIN {
            "standard input".into()
        } else {
            crate::ruleset::file_digest(reference_path)
                .with_context(|| format!("cannot read {reference}"))?
        },
        reference,
    });
    crate::ruleset::write_info(dir, &info)?;
    eprintln!(
        "pff: cut points recorded in the rule set {} (validate and run use them)",
        dir.display()
    );
    Ok(())
}

/// `pff rules compile`: rules compiled once into the cache.
pub fn rules_compile(args: super::args::CompileArgs) -> Result<u8> {
    use crate::rules::compiled::{cache_dir, open_cached};
    let files = crate::ruleset::resolve(&args.rules)?.files;
    let cache = cache_dir().context(
        "no cache folder: set PFF_CACHE_DIR (or XDG_CACHE_HOME, or HOME) to where compiled rule \
         sets may be kept",
    )?;
    let filter = args.filter.filter();
    let started = std::time::Instant::now();
    let rules = open_cached(&files, filter, 1, &cache, true)?
        .context("the compiled rules were not found after compiling them")?;
    let dir = rules
        .header()
        .compiled_in
        .as_ref()
        .map_or_else(String::new, |d| d.display().to_string());
    eprintln!(
        "pff: {} rules compiled in {:.2} s: {dir}",
        rules.len(),
        started.elapsed().as_secs_f64()
    );
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
