//! The command line: argument parsing and the commands, returning exit codes.

use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};

use crate::check::{self, SourceChecker};
use crate::hardware::{Machine, Plan, Requests};
use crate::manifest::Manifest;
use crate::pipeline::{self, RunConfig};
use crate::report::{FailOn, OutputFormat, RunInfo, SeverityCuts};
use crate::rules::{RuleSource, load_rules};
use crate::triples::Format;
use crate::triples::json::Mapping;
use crate::validate::{self, Event};

use crate::exit::{CLEAN as EXIT_CLEAN, ERROR as EXIT_ERROR, VIOLATIONS as EXIT_VIOLATIONS};

#[derive(Parser, Debug)]
#[command(
    name = "pff",
    version,
    about = "Validate data against mined AnyBURL rules: report every place where a rule's body \
             holds but its conclusion is missing.",
    after_help = "Exit codes: 0 no violation at or above --fail-on, 1 violations, 2 error, \
                  3 some tasks of a run failed, 130/143 interrupted."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check a data file (.json, .jsonl/.ndjson or triples .tsv/.txt) against a rules file.
    Validate(ValidateArgs),
    /// Write the triples of a data file as AnyBURL training data (subject TAB relation TAB object).
    Triples(TriplesArgs),
    /// Run a manifest: check its tasks with workers sized to the machine, under a memory guard.
    Run(RunArgs),
    /// Combine the output folders of `pff run --shard K/N` into one execution.
    Merge(MergeArgs),
    /// Print the machine, its profile and the plan a run would use.
    Doctor(DoctorArgs),
    /// Look at rules files.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Subcommand, Debug)]
pub enum RulesCommand {
    /// Summarise a rules file: counts by shape and body length, confidence histogram, relations.
    Stats {
        /// The AnyBURL rules file.
        rules: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Head relations listed.
        #[arg(long, default_value_t = 15)]
        top: usize,
    },
}

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The manifest (YAML).
    pub manifest: PathBuf,
    /// Worker threads: overrides the manifest and the hardware profile's cap.
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// Output folder (default: the manifest's `output`, else out/<execution_id>).
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Rules file, repeatable (default: the manifest's `rules`).
    #[arg(short, long)]
    pub rules: Vec<PathBuf>,
    /// Continue an interrupted execution: finished tasks are skipped.
    #[arg(long, conflicts_with = "fresh")]
    pub resume: bool,
    /// Discard an earlier execution's results in the output folder and start afresh.
    #[arg(long)]
    pub fresh: bool,
    /// Print the profile and plan, then exit.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
    /// Memory budget (e.g. 512M, 2G): no new task is admitted while pff's RSS is above it.
    #[arg(long, value_name = "SIZE", value_parser = crate::hardware::parse_size)]
    pub memory_limit: Option<u64>,
    /// Bindings one rule may try on one record before it is cut short and reported
    /// (default: the manifest's `max_rule_work`, else 1000000000).
    #[arg(long, value_name = "N")]
    pub max_rule_work: Option<u64>,
    /// Seconds one task may take; rules not started by then are skipped and reported
    /// (default: the manifest's `task_time_budget_secs`, else 600).
    #[arg(long, value_name = "SECS")]
    pub time_budget: Option<f64>,
    /// Rules held in memory at once. A larger rule set is filed by anchor on disk (in the
    /// output folder, removed at the end) and each record reads only the rules it can use, at
    /// most this many at a time, so memory does not grow with the rule count (default: the
    /// manifest's `rule_batch`, else 1024).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub rule_batch: Option<u64>,
    /// Also write this report into the output folder (repeatable; adds to the manifest's
    /// `reports:`).
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    pub formats: Vec<OutputFormat>,
    /// Run only shard K of N (0 <= K < N; tasks split by a stable hash of their id), or
    /// `auto/N` to take K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID. Without --output,
    /// writes to <output>/shard-K-of-N.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

#[derive(Args, Debug)]
pub struct MergeArgs {
    /// The shard output folders.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// The merged output folder.
    #[arg(short, long)]
    pub output: PathBuf,
    /// Also write this report (repeatable; adds to the manifest's `reports:`).
    #[arg(long = "format", value_enum, value_name = "FORMAT")]
    pub formats: Vec<OutputFormat>,
}

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// Worker threads to plan for.
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    #[arg(long, value_name = "SIZE", value_parser = crate::hardware::parse_size)]
    pub memory_limit: Option<u64>,
}

#[derive(Args, Debug)]
pub struct InputArgs {
    /// Read DATA as this format instead of guessing from its extension.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// The JSON key that names a node.
    #[arg(long, default_value = "id")]
    pub id_key: String,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InputFormat {
    Json,
    Jsonl,
    Tsv,
}

impl From<InputFormat> for Format {
    fn from(f: InputFormat) -> Self {
        match f {
            InputFormat::Json => Format::Json,
            InputFormat::Jsonl => Format::Jsonl,
            InputFormat::Tsv => Format::Tsv,
        }
    }
}

#[derive(Args, Debug)]
pub struct ValidateArgs {
    /// The data to check.
    pub data: PathBuf,
    /// The AnyBURL rules file (repeat for several; rule ids name each rule's own file).
    #[arg(short, long, required = true)]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Report format.
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Write the report here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write the rules with predicted/correct/confidence recomputed on DATA.
    #[arg(long, value_name = "OUT")]
    pub rule_stats: Option<PathBuf>,
    /// Check only rules with at least this mined confidence.
    #[arg(long, default_value_t = 0.0)]
    pub min_confidence: f64,
    /// Check only rules with at least this many mined correct predictions (support).
    #[arg(long, default_value_t = 0)]
    pub min_correct: u64,
    /// Check only rules with at most this many body atoms.
    #[arg(long)]
    pub max_body_len: Option<usize>,
    /// Worker threads (default: the machine's available parallelism).
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// Exit with 1 when a violation of this severity or higher is found.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
    /// Confidence from which a violation is an error.
    #[arg(long, default_value_t = 0.9)]
    pub error_confidence: f64,
    /// Confidence from which a violation is a warning (below: info).
    #[arg(long, default_value_t = 0.5)]
    pub warning_confidence: f64,
    /// Findings listed per record in the human format.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    /// Keep at most N findings (distinct missing triples) per record, the highest scores
    /// (`all` keeps every one). Counts stay exact and a capped record is marked `truncated`.
    #[arg(long, value_name = "N|all", default_value = "1000", value_parser = parse_limit)]
    pub max_violations: usize,
    /// Bindings one rule may try on one record before it is cut short (and reported as
    /// truncated, with its counts so far); `all`: no bound.
    #[arg(long, value_name = "N|all", default_value = "all", value_parser = parse_limit)]
    pub max_rule_work: usize,
    /// Seconds one record may take; rules not started by then are skipped and reported.
    #[arg(long, value_name = "SECS")]
    pub time_budget: Option<f64>,
    /// Count violations per rule only: no findings (for --rule-stats over large graphs).
    #[arg(long)]
    pub counts_only: bool,
    /// Rules held in memory; a larger rule set is filed on disk (in the temporary folder) and
    /// each record reads the rules it can use, this many at a time (default 262144; with
    /// --counts-only the rules are always held together).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub rule_batch: Option<u64>,
    /// Keep at most N violations per rule per record before grouping (`all`: no limit).
    #[arg(long, value_name = "N|all", default_value = "all", value_parser = parse_limit)]
    pub max_violations_per_rule: usize,
}

#[derive(Args, Debug)]
pub struct TriplesArgs {
    /// The data to convert.
    pub data: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
}

/// A time budget in seconds, checked as the manifest's durations are.
fn budget(secs: Option<f64>) -> Result<Option<std::time::Duration>> {
    secs.map(crate::manifest::check_secs)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--time-budget: {e}"))
}

/// Prints a panic as one line and no backtrace unless `PFF_BACKTRACE=1`: a backtrace taken
/// under the tokio runtime has been seen to deadlock. The code that panicked turns it into an
/// error (a worker fails the run with exit 2).
fn install_panic_hook() {
    let verbose = std::env::var_os("PFF_BACKTRACE").is_some_and(|v| v == "1");
    if verbose {
        return;
    }
    std::panic::set_hook(Box::new(|info| {
        if crate::panics::is_quiet() {
            return;
        }
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let at = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        eprintln!("pff: internal error: {msg}{at} (PFF_BACKTRACE=1 for a backtrace)");
    }));
}

/// `N` or `all` (no limit).
fn parse_limit(s: &str) -> Result<usize, String> {
    match s {
        "all" => Ok(usize::MAX),
        n => n
            .parse()
            .map_err(|_| format!("`{n}` is not a count; give a whole number or `all`")),
    }
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    install_panic_hook();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                EXIT_ERROR
            } else {
                EXIT_CLEAN
            });
        }
    };
    if let Err(e) = crate::hardware::check_address_space() {
        eprintln!("pff: error: {e}");
        return ExitCode::from(EXIT_ERROR);
    }
    let result = match cli.command {
        Command::Validate(args) => validate_cmd(args),
        Command::Triples(args) => triples_cmd(args),
        Command::Run(args) => run_cmd(args),
        Command::Merge(args) => merge_cmd(args),
        Command::Rules(RulesCommand::Stats { rules, json, top }) => (|| {
            let rs = load_rules(&rules)?;
            let stats = crate::rules::stats::RuleSetStats::of(&rs, top);
            if json {
                println!("{}", serde_json::to_string_pretty(&stats)?);
            } else {
                print!("{}", stats.render());
            }
            Ok(EXIT_CLEAN)
        })(),
        Command::Doctor(args) => {
            let plan = Plan::new(
                Machine::detect(),
                Requests {
                    cli_workers: args.max_workers,
                    memory_limit: args.memory_limit,
                    ..Requests::default()
                },
            );
            println!("{}", plan.describe());
            Ok(EXIT_CLEAN)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        // A closed pipe (`pff ... | head`) is the reader's choice, not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::from(EXIT_CLEAN),
        Err(e) => {
            eprintln!("pff: error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<io::Error>()
            .is_some_and(|io| io.kind() == io::ErrorKind::BrokenPipe)
    })
}

/// Sizes rayon's global pool once; `None` keeps the machine's available parallelism.
pub fn init_workers(max_workers: Option<usize>) -> Result<usize> {
    let n = match max_workers {
        Some(0) => bail!("--max-workers must be at least 1"),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build_global()
        .context("cannot start the worker threads")?;
    Ok(n)
}

/// Standard output or a file, buffered.
fn output(path: Option<&Path>) -> Result<Box<dyn Write>> {
    Ok(match path {
        Some(p) => Box::new(BufWriter::new(
            File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        )),
        None => Box::new(BufWriter::new(io::stdout().lock())),
    })
}

/// The rules `pff validate` checks: the files with the filters of the command line; held in
/// memory up to `--rule-batch` rules, else filed on disk in the temporary folder.
fn load_filtered(args: &ValidateArgs) -> Result<RuleSource> {
    if !(0.0..=1.0).contains(&args.min_confidence) {
        bail!("--min-confidence must be between 0 and 1");
    }
    let cuts_ok = (0.0..=1.0).contains(&args.warning_confidence)
        && (0.0..=1.0).contains(&args.error_confidence)
        && args.warning_confidence <= args.error_confidence;
    if !cuts_ok {
        bail!("--warning-confidence and --error-confidence must be in [0, 1], warning <= error");
    }
    let (min_confidence, min_correct, max_body_len) =
        (args.min_confidence, args.min_correct, args.max_body_len);
    let keep = Box::new(move |r: &crate::rules::Rule| {
        r.confidence >= min_confidence
            && r.correct.is_none_or(|c| c >= min_correct)
            && max_body_len.is_none_or(|n| r.body.len() <= n)
    });
    // Counting over a whole graph shares work between rules with the same body: keep them
    // all together.
    let batch = if args.counts_only {
        usize::MAX
    } else {
        args.rule_batch.map_or(VALIDATE_RULE_BATCH, |n| {
            usize::try_from(n).unwrap_or(usize::MAX)
        })
    };
    Ok(RuleSource::open_filtered(
        &args.rules,
        keep,
        batch,
        &std::env::temp_dir(),
    )?)
}

fn validate_cmd(args: ValidateArgs) -> Result<u8> {
    init_workers(args.max_workers)?;
    let rules = load_filtered(&args)?;
    let opts = check::Options {
        severity: SeverityCuts {
            error: args.error_confidence,
            warning: args.warning_confidence,
        },
        findings: !args.counts_only,
        max_violations_per_rule: args.max_violations_per_rule,
        parallel_rules: true,
        max_rule_work: args.max_rule_work as u64,
        time_budget: budget(args.time_budget)?,
        // The human format lists `--top` findings a record; building the rest would only
        // cost memory (the counts stay exact either way).
        max_violations: match args.format {
            OutputFormat::Human | OutputFormat::Markdown => args.max_violations.min(args.top),
            _ => args.max_violations,
        },
    };
    let severity = opts.severity;
    // Opened with a store folder: the rules are in memory or filed.
    let source_checker = SourceChecker::new(&rules, opts)
        .context("the rules do not fit in memory and were not filed on disk")?;
    let checker = source_checker.get();
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
    let mapping = Mapping {
        id_key: args.input.id_key.clone(),
    };
    let format = args.input.input_format.map(Format::from);
    let (mut summary, stats) =
        validate::check_file(checker, &args.data, format, &mapping, |event| match event {
            Event::Begin => exporter.begin(&mut out, &info),
            Event::Record(report) => {
                if let Some(e) = &report.error {
                    failed_records.push(e.clone());
                }
                exporter.record(&mut out, report)
            }
        })?;
    summary.fail_on = Some(args.fail_on);
    // Findings carry the severity people read; counts-only runs have only violations.
    let judged = if args.counts_only {
        &summary.violations
    } else {
        &summary.findings
    };
    summary.failed = args.fail_on.fails(judged);
    exporter.finish(&mut out, &summary)?;
    out.flush().context("cannot write the report")?;
    if let Some(path) = &args.rule_stats {
        let mut w = output(Some(path))?;
        stats.write(&rules, &mut w)?;
        w.flush()
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let stderr_tty = io::stderr().is_terminal();
    for e in &failed_records {
        eprintln!("pff: error: {e}");
    }
    if !failed_records.is_empty() {
        if stderr_tty || args.output.is_some() {
            eprintln!(
                "pff: {} record(s) could not be checked",
                failed_records.len()
            );
        }
        return Ok(EXIT_ERROR);
    }
    Ok(if summary.failed {
        EXIT_VIOLATIONS
    } else {
        EXIT_CLEAN
    })
}

fn triples_cmd(args: TriplesArgs) -> Result<u8> {
    let mapping = Mapping {
        id_key: args.input.id_key.clone(),
    };
    let mut out = output(args.output.as_deref())?;
    crate::triples::input::for_each_record_triples(
        &args.data,
        args.input.input_format.map(Format::from),
        &mapping,
        |b| {
            crate::triples::tsv::write(&mut out, b.unique_triples())?;
            Ok::<(), anyhow::Error>(())
        },
    )?;
    out.flush().context("cannot write the triples")?;
    Ok(EXIT_CLEAN)
}

fn run_cmd(args: RunArgs) -> Result<u8> {
    let manifest = Manifest::load(&args.manifest)?;
    if args.max_workers == Some(0) {
        bail!("--max-workers must be at least 1");
    }
    let plan = Plan::new(
        Machine::detect(),
        Requests {
            cli_workers: args.max_workers,
            manifest_workers: manifest.max_workers,
            resource_usage: manifest.resource_usage,
            memory_limit: args.memory_limit,
        },
    );
    for w in &plan.warnings {
        eprintln!("pff: warning: {w}");
    }
    let rule_batch = args
        .rule_batch
        .map(|n| usize::try_from(n).unwrap_or(usize::MAX))
        .or(manifest.rule_batch)
        .unwrap_or(DEFAULT_RULE_BATCH);
    let shard = args
        .shard
        .as_deref()
        .map(|s| pipeline::Shard::parse(s, |v| std::env::var(v).ok()))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let mut output = args
        .output
        .clone()
        .or_else(|| manifest.output.clone())
        .unwrap_or_else(|| Path::new("out").join(&manifest.execution_id));
    if let (Some(s), None) = (shard, &args.output) {
        // Each shard writes its own folder.
        output = output.join(format!("shard-{}-of-{}", s.index, s.count));
    }
    // Named as an execution records them (absolute, links kept): the rule ids in the task
    // files and the final outputs are then the same for a run, a resume and a merge.
    let rule_paths: Vec<PathBuf> = if !args.rules.is_empty() {
        args.rules.iter().map(|p| pipeline::absolute(p)).collect()
    } else if manifest.rules.is_empty() {
        bail!("no rules: give the manifest a `rules:` entry or pass --rules FILE")
    } else {
        manifest
            .rules
            .iter()
            .map(|p| pipeline::absolute(p))
            .collect()
    };
    if args.dry_run {
        println!("{}", plan.describe());
        println!(
            "execution {}: {} tasks, rules {} (held in memory up to {rule_batch} rules, else \
             filed on disk and read per record, {rule_batch} at a time), output {}",
            manifest.execution_id,
            manifest.tasks.len(),
            rule_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            output.display()
        );
        return Ok(EXIT_CLEAN);
    }
    plan.preflight().map_err(anyhow::Error::msg)?;
    let opened = std::time::Instant::now();
    // Filing a million rules takes seconds: show that something happens.
    let spinner = (!args.quiet && io::stderr().is_terminal()).then(|| {
        let pb = indicatif::ProgressBar::new_spinner();
        pb.set_message("reading and checking the rules");
        pb.enable_steady_tick(std::time::Duration::from_millis(120));
        pb
    });
    let rules = RuleSource::open_indexed(&rule_paths, manifest.min_confidence, rule_batch, &output);
    if let Some(pb) = spinner {
        pb.finish_and_clear();
    }
    let rules = rules?;
    if let (Some(store), false) = (rules.store(), args.quiet) {
        eprintln!(
            "pff: {} rules filed on disk under {} anchors in {:.1} s; each record reads the \
             rules it can use, {rule_batch} at a time",
            rules.len(),
            store.anchors(),
            opened.elapsed().as_secs_f64()
        );
    }
    let opts = check::Options {
        max_violations: manifest.max_violations,
        parallel_rules: false,
        max_rule_work: args
            .max_rule_work
            .or(manifest.max_rule_work)
            .unwrap_or(1_000_000_000),
        time_budget: budget(
            args.time_budget
                .or(manifest.task_time_budget_secs)
                .or(Some(600.0)),
        )?,
        ..check::Options::default()
    };
    let info = pipeline::ExecutionInfo {
        execution_id: manifest.execution_id.clone(),
        manifest: pipeline::absolute(&args.manifest),
        manifest_digest: format!("{:016x}", pipeline::fnv1a(manifest.text.as_bytes())),
        rules: rule_paths.clone(),
        rules_digest: pipeline::rules_digest(&rule_paths).context("cannot read the rules")?,
        manifest_tasks: manifest.tasks.len(),
        shard,
        merged_from: None,
        outputs: Vec::new(),
    };
    let outcome = pipeline::run(
        &rules,
        &opts,
        &RunConfig {
            manifest: &manifest,
            info,
            shard,
            mapping: Mapping {
                id_key: manifest.id_key.clone(),
            },
            plan: &plan,
            output: output.clone(),
            resume: args.resume,
            fresh: args.fresh,
            quiet: args.quiet,
            reports: args.formats.clone(),
            fetch: {
                let d = pipeline::FetchLimits::default();
                pipeline::FetchLimits {
                    timeout: manifest
                        .fetch_timeout_secs
                        .map_or(d.timeout, std::time::Duration::from_secs_f64),
                    max_bytes: manifest.fetch_max_bytes.unwrap_or(d.max_bytes),
                    retries: manifest.fetch_retries.unwrap_or(d.retries),
                    redirect_hosts: manifest.fetch_redirect_hosts.clone(),
                }
            },
        },
    )?;
    let Some(s) = &outcome.summary else {
        eprintln!(
            "pff: stopped before the final outputs were written; `pff run {} --resume` writes them",
            args.manifest.display()
        );
        return Ok(outcome.code);
    };
    if !args.quiet {
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
    }
    Ok(outcome.code)
}

/// Rules held in memory at once by `pff run` (about 520 bytes a rule with its index).
pub const DEFAULT_RULE_BATCH: usize = 1024;
/// Rules `pff validate` holds in memory before it files them on disk (about 140 MB): it checks
/// one file, usually against the rule set as a whole, and the in-memory index is what makes
/// the headline case take a fifth of a second.
pub const VALIDATE_RULE_BATCH: usize = 262_144;

fn merge_cmd(args: MergeArgs) -> Result<u8> {
    let mut shards = Vec::new();
    for dir in &args.shards {
        let info = pipeline::read_marker(dir)?
            .ok_or_else(|| pipeline::MergeError::NotAnOutput(dir.display().to_string()))?;
        shards.push((dir.clone(), info));
    }
    let info = pipeline::check_shards(&shards)?;
    // The manifest as the shards read it, kept in their folders: the original may be gone.
    let copy = shards[0].0.join(pipeline::MANIFEST_COPY);
    let text = std::fs::read_to_string(&copy).with_context(|| {
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
    let manifest = Manifest::parse_recorded(&info.manifest, &text)?;
    let digest = pipeline::rules_digest(&info.rules).context("cannot read the rules")?;
    if digest != info.rules_digest {
        bail!(
            "the rules files changed since the shards ran (digest {digest}, shards {}); rerun them",
            info.rules_digest
        );
    }
    if manifest.tasks.len() != info.manifest_tasks {
        bail!(
            "the manifest {} changed since the shards ran ({} tasks now, {} then)",
            info.manifest.display(),
            manifest.tasks.len(),
            info.manifest_tasks
        );
    }
    // The same rules, with the same indices, as the shards: the files filtered by the
    // manifest's min_confidence.
    let rules = RuleSource::open(&info.rules, manifest.min_confidence, DEFAULT_RULE_BATCH)?;
    let formats = manifest.report_formats(&args.formats);
    let command: Vec<String> = std::env::args().collect();
    let folder = pipeline::OutputFolder::lock(&args.output, &command.join(" "))?;
    let marker = pipeline::prepare_merge(&folder, &info, &formats)?;
    pipeline::write_atomic(&args.output.join(pipeline::MANIFEST_COPY), text.as_bytes())
        .with_context(|| format!("cannot write to {}", args.output.display()))?;
    let never = std::sync::atomic::AtomicBool::new(false);
    let s = pipeline::merge(
        &rules, &manifest, &shards, &folder, marker, &formats, &never,
    )?;
    eprintln!(
        "pff: merged {} shards of {}: {} tasks, {} failed; {} findings; results in {}",
        shards.len(),
        s.execution_id,
        s.tasks,
        s.tasks_failed,
        s.findings.total(),
        args.output.display()
    );
    Ok(if s.tasks_failed > 0 {
        crate::exit::TASKS_FAILED
    } else if manifest.fail_on.fails(&s.findings) {
        EXIT_VIOLATIONS
    } else {
        EXIT_CLEAN
    })
}
