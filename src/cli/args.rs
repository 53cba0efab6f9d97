//! The command line's definitions (clap): every command, flag and its default (from
//! [`crate::defaults`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::defaults;
use crate::report::{FailOn, OutputFormat, Severity};
use crate::triples::Mapping;
use crate::triples::{Format, MappingKind};

#[derive(Parser, Debug)]
#[command(
    name = "pff",
    version = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("PFF_COMMIT"), ")"),
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
    /// Learn rules from records with AnyBURL: the training triples under the chosen mapping,
    /// AnyBURL's configuration, the run, and its last snapshot checked and written to RULES.
    Learn(LearnArgs),
    /// Derive severity cut points from clean reference records and corruptions pff makes of
    /// them; prints `error_confidence` / `warning_confidence` lines for a manifest.
    Calibrate(CalibrateArgs),
    /// Extract line numbers (MSISDNs, 11-13 digits) from a text file or standard input into a
    /// task list (one key a line) or, with --manifest, a manifest.
    Generate(GenerateArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print a manual page (roff; `pff man | man -l -`): pff's, or a command's
    /// (`pff man validate`, `pff man rules stats`); with --dir, write every page into a folder.
    Man(ManArgs),
    /// Print the machine, its profile and the plan a run would use.
    Doctor(DoctorArgs),
    /// Look at rules files.
    #[command(subcommand)]
    Rules(RulesCommand),
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The command whose page to print (none: pff's own, which lists the others).
    pub command: Vec<String>,
    /// Write every page (`pff.1`, `pff-validate.1`, `pff-rules-stats.1`, ...) into this folder
    /// (made if missing); a page already there is never replaced.
    #[arg(long, value_name = "DIR", conflicts_with = "command")]
    pub dir: Option<PathBuf>,
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
    /// Compile rules once into the cache of compiled rule sets (`$PFF_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/pff`, else `~/.cache/pff`): `validate` and `calibrate` with the same
    /// rules and filter then start without parsing them (rules files over 1 MiB are compiled
    /// on their first use anyway).
    Compile(CompileArgs),
    /// Make a rule set from an AnyBURL rules file learned elsewhere: a folder with the rules
    /// (checked, copied unchanged) and `ruleset.json` recording the encoding they were learned
    /// under (the mapping flags); `pff calibrate` then adds its cut points.
    Import(ImportArgs),
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    /// The rules: AnyBURL rules files or rule set folders (in the order `validate` is given
    /// them).
    #[arg(required = true)]
    pub rules: Vec<PathBuf>,
    /// Which rules are kept (as `validate` keeps them).
    #[command(flatten)]
    pub filter: FilterArgs,
}

/// Which rules of the files are kept and checked (`validate`, `rules compile`): part of a
/// compiled rule set's identity.
#[derive(Args, Debug, Clone, Copy)]
pub struct FilterArgs {
    /// Check only rules with at least this mined confidence.
    #[arg(long, default_value_t = defaults::MIN_CONFIDENCE)]
    pub min_confidence: f64,
    /// Check only rules with at least this many mined correct predictions (support).
    #[arg(long, default_value_t = 0)]
    pub min_correct: u64,
    /// Check only rules with at most this many body atoms.
    #[arg(long)]
    pub max_body_len: Option<usize>,
}

impl FilterArgs {
    /// The filter these flags say.
    pub fn filter(&self) -> crate::rules::compiled::Filter {
        crate::rules::compiled::Filter {
            min_confidence: self.min_confidence,
            min_correct: self.min_correct,
            max_body_len: self.max_body_len,
        }
    }
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// The AnyBURL rules file.
    pub rules: PathBuf,
    /// The rule set folder to make (must not exist).
    #[arg(short, long, value_name = "DIR")]
    pub output: PathBuf,
    /// The encoding the rules were learned under (`--mapping`, `--name-key`, `--id-key`).
    #[command(flatten)]
    pub input: InputArgs,
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
    /// Print the run's diagnostics (plan, rules, timings, outcome) on standard error.
    #[arg(short, long)]
    pub verbose: bool,
    /// Append the run's diagnostics, with times, to this file.
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,
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
    /// Exit with 1 when a finding of this severity or higher is found (default: the
    /// manifest's `fail_on`, else error).
    #[arg(long, value_enum)]
    pub fail_on: Option<FailOn>,
    /// An earlier execution's output folder, or `last` (the newest complete dated run before
    /// this one; none on the first night): each finding is marked new or known against it,
    /// and its findings that are gone are listed in `fixed.jsonl` (default: the manifest's
    /// `baseline`).
    #[arg(long, value_name = "DIR|last")]
    pub baseline: Option<crate::manifest::BaselineChoice>,
    /// Write this run into a new folder named by its UTC start time under the output folder
    /// (`<output>/2026-12-03T074714Z`), so that the same manifest can run every night; always
    /// so without --output and the manifest's `output` (default: the manifest's `dated`).
    #[arg(long)]
    pub dated: bool,
    /// With a baseline: exit 1 only for new findings at the --fail-on level.
    #[arg(long)]
    pub fail_on_new: bool,
    /// Read the tasks from this file (a key a line, CSV with a header, or JSON Lines; see
    /// `tasks_file`) instead of the manifest's; a resume and a merge use it too.
    #[arg(long, value_name = "FILE")]
    pub tasks: Option<PathBuf>,
    /// How records become triples (default: the manifest's `mapping`, else plain); see
    /// `pff validate --help`.
    #[arg(long, value_enum)]
    pub mapping: Option<MappingKind>,
    /// The key that names an entry of a name/value list (default: the manifest's
    /// `name_key`, else name).
    #[arg(long, value_name = "KEY")]
    pub name_key: Option<String>,
    /// Fail only when more than N tasks have a finding at the --fail-on level (default: the
    /// manifest's `fail_on_count`, else 0).
    #[arg(long, value_name = "N")]
    pub fail_on_count: Option<u64>,
    /// Fail only when more than this share of tasks (0-1) has a finding at the --fail-on
    /// level (default: the manifest's `fail_on_ratio`, else 0).
    #[arg(long, value_name = "SHARE")]
    pub fail_on_ratio: Option<f64>,
    /// Write findings of this severity or higher with their evidence; below it, counts and the
    /// strongest few only (default: the manifest's `keep`, else warning).
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub keep: Option<Severity>,
    /// Score from which a finding is an error (default: the manifest's `error_confidence`,
    /// else the built-in cut point, shown by `pff validate --help`).
    #[arg(long)]
    pub error_confidence: Option<f64>,
    /// Score from which a finding is a warning (default: the manifest's
    /// `warning_confidence`, else the built-in cut point, shown by `pff validate --help`).
    #[arg(long)]
    pub warning_confidence: Option<f64>,
    /// Check only rules with at least this mined confidence (default: the manifest's
    /// `min_confidence`, else 0).
    #[arg(long)]
    pub min_confidence: Option<f64>,
    /// Keep at most N findings per record (default: the manifest's `max_violations`, else
    /// 1000); `all` for no cap.
    #[arg(long, value_name = "N|all", value_parser = parse_limit)]
    pub max_violations: Option<usize>,
    /// Refuse to run when most rules use relations the first task's records never give (rules
    /// learned under another encoding); without it that is a warning.
    #[arg(long)]
    pub strict: bool,
    /// Read the rules as text: neither use nor fill the cache of compiled rule sets.
    #[arg(long)]
    pub no_cache: bool,
    /// Run only shard K of N (0 <= K < N; tasks split by a stable hash of their id), or
    /// `auto/N` to take K from JOB_COMPLETION_INDEX or SLURM_ARRAY_TASK_ID. Without --output,
    /// writes to `<output>/shard-K-of-N`.
    #[arg(long, value_name = "K/N")]
    pub shard: Option<String>,
}

#[derive(Args, Debug)]
pub struct CalibrateArgs {
    /// Clean reference records (.json, .jsonl or .tsv), e.g. the records the rules were
    /// learned from.
    pub reference: PathBuf,
    /// The AnyBURL rules file (repeatable).
    #[arg(short, long, required = true)]
    pub rules: Vec<PathBuf>,
    #[command(flatten)]
    pub input: InputArgs,
    /// Error-level findings the median clean record may have.
    #[arg(long, default_value_t = 1)]
    pub errors: usize,
    /// Warning-level findings the median clean record may have besides its errors.
    #[arg(long, default_value_t = 2)]
    pub warnings: usize,
    /// Corruptions made of each record to measure what the cut points find.
    #[arg(long, default_value_t = 3)]
    pub corruptions: usize,
    /// Worker threads (default: the machine's available parallelism).
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// Write the cut points here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Read the rules as text: neither use nor fill the cache of compiled rule sets.
    #[arg(long)]
    pub no_cache: bool,
}

#[derive(Args, Debug)]
pub struct LearnArgs {
    /// The records to learn from (.json, .jsonl or .tsv).
    pub data: PathBuf,
    /// Where the rules go: a rule set folder (a name without an extension: `rules.txt` and
    /// `ruleset.json`, which records the encoding and where the rules came from), or a plain
    /// AnyBURL file (`NAME.txt`). Refused if it exists, unless --force.
    #[arg(short, long, value_name = "RULES")]
    pub output: PathBuf,
    #[command(flatten)]
    pub input: InputArgs,
    /// The AnyBURL jar (not shipped with pff).
    #[arg(long, value_name = "JAR", env = "ANYBURL_JAR")]
    pub anyburl: Option<PathBuf>,
    /// The Java to run it with: a program on PATH or a file.
    #[arg(long, value_name = "JAVA", env = "JAVA", default_value = "java")]
    pub java: String,
    /// Seconds of learning (AnyBURL's snapshot clock; loading the triples comes before), from
    /// 1 to 2592000 (30 days, the bound of every duration pff takes).
    #[arg(long, value_name = "SECS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    pub time: u64,
    /// Earlier snapshots to keep in the work folder, in seconds (e.g. 60,300).
    #[arg(long, value_name = "SECS,...", value_delimiter = ',')]
    pub snapshots: Vec<u64>,
    /// AnyBURL's worker threads (default: the machine's available parallelism).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Longest cyclic rule body.
    #[arg(long, default_value_t = 3)]
    pub max_length_cyclic: u32,
    /// Longest acyclic rule body.
    #[arg(long, default_value_t = 2)]
    pub max_length_acyclic: u32,
    /// Learn no rules without a body (`h(X,c)`).
    #[arg(long)]
    pub no_zero_rules: bool,
    /// Correct predictions a rule needs on DATA.
    #[arg(long, default_value_t = 18)]
    pub min_correct: u64,
    /// Correct predictions a rule without a body needs.
    #[arg(long, default_value_t = 100)]
    pub min_correct_zero: u64,
    /// Confidence a rule needs on DATA.
    #[arg(long, default_value_t = 0.004)]
    pub min_confidence: f64,
    /// Any other AnyBURL setting (repeatable), e.g. --set SAMPLE_SIZE=500.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub settings: Vec<String>,
    /// Memory for AnyBURL (its Java heap gets 85%; default: the share of the machine a run
    /// would use).
    #[arg(long, value_name = "SIZE", value_parser = crate::hardware::parse_size)]
    pub memory_limit: Option<u64>,
    /// Keep AnyBURL's files (triples, configuration, log, snapshots) in this folder, which must
    /// be new or empty (default: a temporary folder, removed after a success).
    #[arg(long, value_name = "DIR")]
    pub work_dir: Option<PathBuf>,
    /// Keep AnyBURL's confidences (estimated on a sample of the whole graph) instead of
    /// counting each rule's predictions exactly on DATA, record by record, as pff checks.
    #[arg(long)]
    pub anyburl_confidence: bool,
    /// Replace RULES if it exists.
    #[arg(long)]
    pub force: bool,
    /// No progress bar.
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// The text to read (`-`: standard input).
    pub input: PathBuf,
    /// Write here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Write a manifest with this execution id instead of a task list.
    #[arg(long, value_name = "EXECUTION_ID")]
    pub manifest: Option<String>,
    /// With --manifest: each task's source, `{msisdn}` replaced by its key (e.g.
    /// `records/{msisdn}.json`); without it the key names the record file.
    #[arg(long, value_name = "TEMPLATE", requires = "manifest")]
    pub source: Option<String>,
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
    /// An earlier execution's output folder: each finding is marked new or known against it,
    /// and its findings that are gone are listed in `fixed.jsonl` (default: the manifest's
    /// `baseline`)
    #[arg(long, value_name = "DIR")]
    pub baseline: Option<PathBuf>,
    /// With a baseline: exit 1 only for new findings at the --fail-on level
    #[arg(long)]
    pub fail_on_new: bool,
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
    /// Read DATA as this format instead of guessing from its extension (`.json`, `.jsonl`,
    /// `.csv`; `.tsv` and `.txt` are triples). `csv` is any delimited table with a header row.
    #[arg(long, value_enum)]
    pub input_format: Option<InputFormat>,
    /// The delimiter of a table (`csv`): one character, or `tab`; implies a table
    /// [default: ,].
    #[arg(long, value_name = "CHAR", value_parser = parse_delimiter)]
    pub delimiter: Option<u8>,
    /// The JSON key (or table column) that names a node [default: the rule set's, else id].
    #[arg(long, value_name = "KEY")]
    pub id_key: Option<String>,
    /// How JSON records become triples: `plain` (records.md), `nested` (plus wrapper
    /// shortcuts and name/value lifting) or `tmf` (plus the current entry of status
    /// histories); rules must have been learned under the same mapping [default: the rule
    /// set's, else plain].
    #[arg(long, value_enum)]
    pub mapping: Option<MappingKind>,
    /// The key that names an entry of a name/value list (`nested`, `tmf`) [default: the rule
    /// set's, else name].
    #[arg(long, value_name = "KEY")]
    pub name_key: Option<String>,
    /// Give every node named by its id the triple `(node, id, node)`, as the predecessor's
    /// graph does (rules learned on it speak of `id`); taken up by itself when most rules use
    /// the id key as a relation.
    #[arg(long)]
    pub id_triples: bool,
    /// Give every value's shape as a second value of its slot (digits as 9, letter runs as
    /// a/A: `0.05%` is `‹9.99%›`), so that rules learn what a column's values look like
    /// [default: the rule set's, else off].
    #[arg(long)]
    pub shapes: bool,
    /// Check a file's records together as one graph: a value shared between records is one
    /// node, as `pff learn` sees the file, so rules through other records (rows with the same
    /// flight) fire; findings still name their record. For tables whose rows describe shared
    /// things; holds the whole file [default: the rule set's, else off].
    #[arg(long)]
    pub one_graph: bool,
}

/// A table's delimiter: one ASCII character, or `tab`.
fn parse_delimiter(s: &str) -> Result<u8, String> {
    match s {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        _ if s.len() == 1 && s.is_ascii() && s != "\"" && s != "\n" && s != "\r" => {
            Ok(s.as_bytes()[0])
        }
        _ => Err(format!(
            "`{s}` is not a delimiter: give one ASCII character other than a quote or a line \
             break, or `tab`"
        )),
    }
}

impl InputArgs {
    /// The data format these flags ask for (none: from the file's extension). A delimiter
    /// alone means a table.
    pub fn format(&self) -> Option<Format> {
        let delimiter = self.delimiter.unwrap_or(b',');
        match (self.input_format, self.delimiter) {
            (Some(InputFormat::Csv), _) | (None, Some(_)) => Some(Format::Csv(delimiter)),
            (Some(f), _) => Some(f.into()),
            (None, None) => None,
        }
    }

    /// The mapping these flags ask for (defaults for what they leave out).
    pub fn mapping(&self) -> Mapping {
        Mapping {
            id_key: self
                .id_key
                .clone()
                .unwrap_or_else(|| defaults::ID_KEY.into()),
            kind: self.mapping.unwrap_or_default(),
            id_triples: self.id_triples,
            shapes: self.shapes,
            one_graph: self.one_graph,
            name_key: self
                .name_key
                .clone()
                .unwrap_or_else(|| defaults::NAME_KEY.into()),
        }
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum InputFormat {
    Json,
    Jsonl,
    /// A table with a header row (`--delimiter`, default comma).
    Csv,
    /// Triples: subject, relation, object a line.
    Tsv,
}

impl From<InputFormat> for Format {
    fn from(f: InputFormat) -> Self {
        match f {
            InputFormat::Json => Format::Json,
            InputFormat::Jsonl => Format::Jsonl,
            InputFormat::Tsv => Format::Tsv,
            InputFormat::Csv => Format::Csv(b','),
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
    /// Report format [default: from the -o file's extension (.json, .jsonl, .md, .xml,
    /// .sarif, .xlsx), else human].
    #[arg(short = 'f', long = "format", value_enum, value_name = "FORMAT")]
    pub format_given: Option<OutputFormat>,
    /// The format in force (resolved from `format_given` and `-o`).
    #[arg(skip = OutputFormat::Human)]
    pub format: OutputFormat,
    /// Write the report here instead of standard output.
    #[arg(short, long)]
    pub output: Option<PathBuf>,
    /// Also write the rules with predicted/correct/confidence recomputed on DATA.
    #[arg(long, value_name = "OUT")]
    pub rule_stats: Option<PathBuf>,
    /// Which rules are checked.
    #[command(flatten)]
    pub filter: FilterArgs,
    /// Worker threads (default: the machine's available parallelism).
    #[arg(long, value_name = "N")]
    pub max_workers: Option<usize>,
    /// Exit with 1 when a violation of this severity or higher is found.
    #[arg(long, value_enum, default_value_t = FailOn::default())]
    pub fail_on: FailOn,
    /// Exit with 1 only when more than N records have such a finding.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub fail_on_count: u64,
    /// Exit with 1 only when more than this share of records (0-1) has such a finding.
    #[arg(long, value_name = "SHARE", default_value_t = 0.0)]
    pub fail_on_ratio: f64,
    /// Refuse to check when most rules use relations the first records never give (rules
    /// learned under another encoding); without it that is a warning.
    #[arg(long)]
    pub strict: bool,
    /// Score from which a finding is an error [default: the rule set's calibrated cut point,
    /// else 0.89].
    #[arg(long)]
    pub error_confidence: Option<f64>,
    /// Score from which a finding is a warning, below it info [default: the rule set's
    /// calibrated cut point, else 0.867].
    #[arg(long)]
    pub warning_confidence: Option<f64>,
    /// Write findings of this severity or higher with their evidence; below it, counts and the
    /// strongest few only (the human format lists the `--top` strongest whatever this says).
    #[arg(long, value_enum, value_name = "LEVEL", default_value_t = defaults::KEEP)]
    pub keep: Severity,
    /// Findings listed per record in the human format.
    #[arg(long, default_value_t = defaults::TOP)]
    pub top: usize,
    /// Keep at most N findings (distinct missing triples) per record, the highest scores
    /// (`all` keeps every one). Counts stay exact and a capped record is marked `truncated`.
    #[arg(long, value_name = "N|all", default_value_t = defaults::MAX_VIOLATIONS, value_parser = parse_limit)]
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
    /// Read the rules as text every time: neither use nor fill the cache of compiled rule
    /// sets (rules files over 1 MiB are compiled once into `$PFF_CACHE_DIR`, else
    /// `$XDG_CACHE_HOME/pff`, else `~/.cache/pff`, and later calls start in milliseconds).
    #[arg(long)]
    pub no_cache: bool,
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

/// `N` or `all` (no limit).
pub(super) fn parse_limit(s: &str) -> Result<usize, LimitError> {
    match s {
        "all" => Ok(usize::MAX),
        n => n.parse().map_err(|_| LimitError(n.to_string())),
    }
}

/// A limit that is neither a count nor `all`.
#[derive(Debug, thiserror::Error)]
#[error("`{0}` is not a count; give a whole number or `all`")]
pub(super) struct LimitError(String);
