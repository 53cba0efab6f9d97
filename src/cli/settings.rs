//! Settings resolved once per command from the flags, the manifest and the defaults
//! ([`crate::defaults`]): the flag wins, then the manifest, then the default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use super::args::{RunArgs, ValidateArgs};
use crate::check;
use crate::defaults;
use crate::hardware::{Machine, Plan, Requests};
use crate::manifest::{Manifest, check_secs};
use crate::pipeline::{self, ExecutionSpec, FetchLimits, Shard};
use crate::report::{FailPolicy, OutputFormat, Severity, SeverityCuts};
use crate::rules::Rule;
use crate::rules::RuleSource;
use crate::rules::compiled::Filter;
use crate::ruleset;
use crate::triples::Mapping;

/// A time budget in seconds, checked as the manifest's durations are.
fn budget(flag: &str, secs: Option<f64>) -> Result<Option<Duration>> {
    secs.map(check_secs)
        .transpose()
        .map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

/// Checks a minimum confidence and severity cut points.
fn check_levels(min_confidence: f64, error: f64, warning: f64) -> Result<()> {
    if !(0.0..=1.0).contains(&min_confidence) {
        bail!("--min-confidence must be between 0 and 1");
    }
    let cuts_ok =
        (0.0..=1.0).contains(&warning) && (0.0..=1.0).contains(&error) && warning <= error;
    if !cuts_ok {
        bail!("--warning-confidence and --error-confidence must be in [0, 1], warning <= error");
    }
    Ok(())
}

/// The manifest's headers with `${VAR}` read from the environment. A variable that is not set
/// is named in the error; a value never is (it may be a secret).
fn expand_headers(
    headers: &[(String, String)],
    env: impl Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    for (name, template) in headers {
        let mut value = String::new();
        let mut rest = template.as_str();
        while let Some(at) = rest.find("${") {
            value.push_str(&rest[..at]);
            let Some(end) = rest[at..].find('}') else {
                bail!("header `{name}`: `${{` without a closing `}}`");
            };
            let var = &rest[at + 2..at + end];
            match env(var) {
                Some(v) => value.push_str(&v),
                None => bail!("header `{name}` uses ${{{var}}}, which is not set"),
            }
            rest = &rest[at + end + 1..];
        }
        value.push_str(rest);
        pipeline::check_header(name, &value)?;
        out.push((name.clone(), value));
    }
    Ok(out)
}

/// `n` as a count of rules held in memory.
fn batch(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}

/// The rules named, and the settings they come with: the files to read, the encoding (a rule
/// set's, unless a flag says the same; a flag that contradicts it is refused) and the cut
/// points (a rule set's calibrated ones, unless a flag replaces them, with a note).
pub struct RulesWith {
    pub resolved: ruleset::Resolved,
    pub mapping: Mapping,
    pub cuts: SeverityCuts,
}

/// The rules named by `paths` and the encoding and cut points in force: what the rule set
/// records, the settings `asked` for (a contradiction refused) and the cut points given (`error`,
/// `warning`: they replace the recorded ones, with a note), over the defaults.
pub fn rules_with(
    paths: &[PathBuf],
    asked: &ruleset::Asked,
    error: Option<f64>,
    warning: Option<f64>,
) -> Result<RulesWith> {
    let resolved = ruleset::resolve(paths)?;
    let recorded = resolved.info.as_ref().zip(resolved.from.as_deref());
    let mapping = asked.settle(recorded.map(|(i, from)| (&i.encoding, from)))?;
    let severities = resolved.info.as_ref().and_then(|i| i.severities.as_ref());
    let from = resolved
        .from
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string());
    for (flag, given, kept) in [
        (
            "--error-confidence",
            error,
            severities.map(|r| r.error_confidence),
        ),
        (
            "--warning-confidence",
            warning,
            severities.map(|r| r.warning_confidence),
        ),
    ] {
        if let (Some(g), Some(k)) = (given, kept)
            && g != k
        {
            eprintln!("pff: note: {flag} {g} replaces the rule set's calibrated {k} ({from})");
        }
    }
    let cuts = SeverityCuts {
        error: error
            .or(severities.map(|r| r.error_confidence))
            .unwrap_or(defaults::ERROR_CONFIDENCE),
        warning: warning
            .or(severities.map(|r| r.warning_confidence))
            .unwrap_or(defaults::WARNING_CONFIDENCE),
    };
    Ok(RulesWith {
        resolved,
        mapping,
        cuts,
    })
}

/// The encoding settings given on a command line (`validate`, `calibrate`).
pub fn asked_by_flags(input: &super::args::InputArgs) -> ruleset::Asked {
    ruleset::Asked {
        mapping: input.mapping.map(|m| (m, "--mapping")),
        name_key: input.name_key.clone().map(|k| (k, "--name-key")),
        id_key: input.id_key.clone().map(|k| (k, "--id-key")),
        id_triples: input.id_triples.then_some((true, "--id-triples")),
        shapes: input.shapes.then_some((true, "--shapes")),
        one_graph: input.one_graph.then_some((true, "--one-graph")),
    }
}

/// The encoding settings given to `pff run`: a flag, else the manifest's key when it set one.
fn asked_by_run(args: &RunArgs, m: &Manifest) -> ruleset::Asked {
    let c = &m.checks;
    let (given, mapping) = (c.given, &c.mapping);
    ruleset::Asked {
        mapping: args
            .mapping
            .map(|k| (k, "--mapping"))
            .or(given.mapping.then_some((mapping.kind, "mapping:"))),
        name_key: args.name_key.clone().map(|k| (k, "--name-key")).or(given
            .name_key
            .then(|| (mapping.name_key.clone(), "name_key:"))),
        id_key: given.id_key.then(|| (mapping.id_key.clone(), "id_key:")),
        id_triples: given
            .id_triples
            .then_some((mapping.id_triples, "id_triples:")),
        shapes: given.shapes.then_some((mapping.shapes, "shapes:")),
        one_graph: given.one_graph.then_some((mapping.one_graph, "one_graph:")),
    }
}

/// The rules a command checks with: compiled, from the cache when it holds them (`pff rules
/// compile`, `pff learn`), compiled into it first when the files together are over
/// [`defaults::COMPILE_ABOVE_BYTES`]; else read as text, `batch` held in memory. A bad rules file is an error either way; a
/// cache that cannot be used is said once, and the text is read.
pub fn open_rules(
    files: &[PathBuf],
    filter: Filter,
    batch: usize,
    cache: Option<&Path>,
    store_in: &Path,
) -> Result<RuleSource> {
    // Only regular files are compiled (a pipe or a device is read once, as text, bounded).
    let sizes: Option<Vec<u64>> = files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.len())
        })
        .collect();
    let size: u64 = sizes.iter().flatten().sum();
    if let Some(cache) = cache.filter(|_| sizes.is_some()) {
        use crate::rules::compiled::{CompiledError, open_cached};
        let compile = size > defaults::COMPILE_ABOVE_BYTES;
        match open_cached(files, filter, batch, cache, compile) {
            Ok(Some(rules)) => return Ok(rules),
            Ok(None) => {}
            Err(CompiledError::Rules(e)) => return Err(e.into()),
            Err(e) => eprintln!("pff: note: the rules are read as text: {e}"),
        }
    }
    let keep = Box::new(move |r: &Rule| filter.keeps(r));
    Ok(RuleSource::open_filtered(files, keep, batch, store_in)?)
}

/// What `pff validate` checks and how.
pub struct ValidateSettings {
    pub opts: check::Options,
    /// Which rules of the files are checked.
    pub filter: Filter,
    /// Where compiled rule sets are cached (`None`: `--no-cache`, `--counts-only`, or no
    /// cache folder).
    pub cache: Option<PathBuf>,
    /// Rules held in memory before they are filed on disk.
    pub rule_batch: usize,
    pub mapping: Mapping,
    /// The rules files to read (a rule set's `rules.txt`).
    pub rule_files: Vec<PathBuf>,
    /// The encoding came from a rule set (nothing is guessed then).
    pub recorded: bool,
    /// When findings fail the command.
    pub fail_policy: FailPolicy,
}

impl ValidateSettings {
    pub fn resolve(args: &ValidateArgs) -> Result<Self> {
        let with = rules_with(
            &args.rules,
            &asked_by_flags(&args.input),
            args.error_confidence,
            args.warning_confidence,
        )?;
        check_levels(
            args.filter.min_confidence,
            with.cuts.error,
            with.cuts.warning,
        )?;
        let fail_policy = FailPolicy {
            on: args.fail_on,
            count: args.fail_on_count,
            ratio: args.fail_on_ratio,
        };
        if !(0.0..=1.0).contains(&fail_policy.ratio) {
            bail!("--fail-on-ratio is a share of records in [0, 1]");
        }
        let opts = check::Options {
            severity: with.cuts,
            findings: !args.counts_only,
            max_violations_per_rule: args.max_violations_per_rule,
            // The human format lists the strongest findings whatever their severity.
            keep: if args.format == OutputFormat::Human {
                Severity::Info
            } else {
                args.keep
            },
            parallel_rules: true,
            max_rule_work: args.max_rule_work as u64,
            time_budget: budget("--time-budget", args.time_budget)?,
            // The human format lists `--top` findings a record; building the rest would only
            // cost memory (the counts stay exact either way).
            max_violations: match args.format {
                OutputFormat::Human | OutputFormat::Markdown => args.max_violations.min(args.top),
                _ => args.max_violations,
            },
        };
        Ok(Self {
            opts,
            filter: args.filter.filter(),
            cache: (!args.no_cache && !args.counts_only)
                .then(crate::rules::compiled::cache_dir)
                .flatten(),
            // Counting over a whole graph shares work between rules with the same body: keep
            // them all together.
            rule_batch: if args.counts_only {
                usize::MAX
            } else {
                args.rule_batch.map_or(defaults::VALIDATE_RULE_BATCH, batch)
            },
            mapping: with.mapping,
            fail_policy,
            recorded: with.resolved.info.is_some(),
            rule_files: with.resolved.files,
        })
    }
}

/// `pff run`'s settings, resolved once from the flags, the manifest, the rule set it names and
/// the defaults. [`RunDraft::finish`] completes the execution's [`ExecutionSpec`] once the
/// rules are read (the id triples a rule set needs are seen in its rules); nothing changes it
/// after.
pub struct RunDraft {
    /// The execution's settings (its encoding may still take up id triples).
    pub spec: ExecutionSpec,
    /// Workers, queues and the memory budget on this machine.
    pub plan: Plan,
    /// Rules held in memory before they are filed on disk.
    pub rule_batch: usize,
    /// The output folder, or with `dated` the folder that holds one dated folder per run.
    pub output: PathBuf,
    /// Each run in a dated folder of its own under `output` ([`pipeline::runs`]).
    pub dated: bool,
    /// How `http(s)` sources are fetched.
    pub fetch: FetchLimits,
    /// The encoding is the rule set's or the manifest's: nothing is guessed from the rules.
    pub recorded: bool,
    /// Where compiled rule sets are cached (`None`: `--no-cache`, or no cache folder).
    pub cache: Option<PathBuf>,
}

impl RunDraft {
    /// Resolves every setting of `pff run`: a flag wins, then the manifest, then the rule set,
    /// then the default. An encoding setting that contradicts the rule set is refused.
    pub fn resolve(args: &RunArgs, m: &Manifest) -> Result<Self> {
        if args.max_workers == Some(0) {
            bail!("--max-workers must be at least 1");
        }
        let with = run_rules(args, m)?;
        let recorded = with.resolved.info.is_some() || m.checks.given.id_triples;
        let shard = args
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, |v| std::env::var(v).ok()))
            .transpose()?;
        let (output, dated) = output_of(args, m, shard)?;
        let rule_paths: Vec<PathBuf> = with
            .resolved
            .files
            .iter()
            .map(|p| pipeline::absolute(p))
            .collect();
        let spec = ExecutionSpec {
            spec_version: pipeline::SPEC_VERSION,
            execution_id: m.execution_id.clone(),
            manifest: pipeline::absolute(&args.manifest),
            manifest_digest: format!("{:016x}", pipeline::fnv1a(m.text.as_bytes())),
            rules_digest: pipeline::rules_digest(&rule_paths).context("cannot read the rules")?,
            rules: rule_paths,
            manifest_tasks: m.tasks.len(),
            shard,
            id_key: with.mapping.id_key.clone(),
            mapping: with.mapping.describe(),
            encoding: Some(ruleset::Encoding::of(&with.mapping)),
            tasks_file: args.tasks.as_deref().map(pipeline::absolute),
            checks: run_checks(args, m, with.cuts)?,
            reports: m.report_formats(&args.formats),
            fail_on_new: args.fail_on_new || m.fail_on_new,
            warnings: Vec::new(),
            merged_from: None,
            outputs: Vec::new(),
        };
        Ok(Self {
            plan: Plan::new(
                Machine::detect(),
                Requests {
                    cli_workers: args.max_workers,
                    manifest_workers: m.resources.max_workers,
                    resource_usage: m.resources.resource_usage,
                    memory_limit: args.memory_limit,
                },
            ),
            rule_batch: args
                .rule_batch
                .map(batch)
                .or(m.resources.rule_batch)
                .unwrap_or(defaults::RUN_RULE_BATCH),
            output,
            dated,
            fetch: fetch_limits(m)?,
            recorded,
            cache: (!args.no_cache)
                .then(crate::rules::compiled::cache_dir)
                .flatten(),
            spec,
        })
    }

    /// The execution's spec, complete: the encoding takes up id triples when the rules need
    /// them (and nothing recorded the encoding).
    pub fn finish(&self, rules: &RuleSource) -> ExecutionSpec {
        let mut mapping = self.spec.mapping();
        super::notes::adopt_id_triples(&mut mapping, rules, self.recorded);
        ExecutionSpec {
            encoding: Some(ruleset::Encoding::of(&mapping)),
            mapping: mapping.describe(),
            ..self.spec.clone()
        }
    }

    /// What `--dry-run` prints besides the plan.
    pub fn describe(&self, m: &Manifest) -> String {
        let n = self.rule_batch;
        format!(
            "execution {}: {} tasks ({}), rules {} (held in memory up to {n} rules, else filed \
             on disk and read per record, {n} at a time), mapping {}, output {}",
            self.spec.execution_id,
            self.spec.manifest_tasks,
            m.tasks.key_rule(),
            self.spec
                .rules
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.spec.mapping,
            if self.dated {
                format!("{}/<UTC start time> (dated)", self.output.display())
            } else {
                self.output.display().to_string()
            }
        )
    }
}

/// The rules `pff run` checks with (the flags', else the manifest's), and the encoding and
/// cut points in force: the rule set's, the flags' and the manifest's keys laid over them.
fn run_rules(args: &RunArgs, m: &Manifest) -> Result<RulesWith> {
    let named = if args.rules.is_empty() {
        &m.rules
    } else {
        &args.rules
    };
    if named.is_empty() {
        bail!("no rules: give the manifest a `rules:` entry or pass --rules FILE");
    }
    rules_with(
        named,
        &asked_by_run(args, m),
        args.error_confidence.or(m
            .checks
            .given
            .error_confidence
            .then_some(m.checks.severity.error)),
        args.warning_confidence.or(m
            .checks
            .given
            .warning_confidence
            .then_some(m.checks.severity.warning)),
    )
}

/// The output folder (or the folder of dated runs) and whether runs are dated: the default
/// output is dated; a shard writes its own fixed folder.
fn output_of(args: &RunArgs, m: &Manifest, shard: Option<Shard>) -> Result<(PathBuf, bool)> {
    let given = args.output.clone().or_else(|| m.output.clone());
    let default_output = given.is_none();
    let mut output = given.unwrap_or_else(|| Path::new("out").join(&m.execution_id));
    if let (Some(s), None) = (shard, &args.output) {
        // Each shard writes its own folder.
        output = output.join(format!("shard-{}-of-{}", s.index, s.count));
    }
    // Shards of one execution run at different times and are merged by folder: theirs are
    // never dated.
    let dated = match shard {
        Some(_) if args.dated || m.dated => {
            bail!("--dated and --shard do not go together: each shard writes a fixed folder")
        }
        Some(_) => false,
        None => args.dated || m.dated || default_output,
    };
    Ok((output, dated))
}

/// The check settings of a run: a flag, else the manifest's key, else the rule set's cut
/// points (`cuts`, already laid over the defaults), else the default.
fn run_checks(args: &RunArgs, m: &Manifest, cuts: SeverityCuts) -> Result<pipeline::Checks> {
    let c = &m.checks;
    let checks = pipeline::Checks {
        fail_on: args.fail_on.unwrap_or(c.fail_on),
        fail_on_count: args.fail_on_count.unwrap_or(c.fail_on_count),
        fail_on_ratio: args.fail_on_ratio.unwrap_or(c.fail_on_ratio),
        keep: args.keep.unwrap_or(c.keep),
        severity: cuts,
        min_confidence: args.min_confidence.unwrap_or(c.min_confidence),
        max_violations: args.max_violations.unwrap_or(c.max_violations),
        max_rule_work: args
            .max_rule_work
            .or(c.max_rule_work)
            .unwrap_or(defaults::RUN_MAX_RULE_WORK),
        task_time_budget_secs: args
            .time_budget
            .or(c.task_time_budget_secs)
            .unwrap_or(defaults::RUN_TIME_BUDGET_SECS),
    };
    if !(0.0..=1.0).contains(&checks.fail_on_ratio) {
        bail!("--fail-on-ratio is a share of records in [0, 1]");
    }
    budget("--time-budget", Some(checks.task_time_budget_secs))?;
    check_levels(checks.min_confidence, cuts.error, cuts.warning)?;
    Ok(checks)
}

/// How `http(s)` sources are fetched: the manifest's settings over the defaults, headers
/// expanded from the environment, the CA bundle read.
fn fetch_limits(m: &Manifest) -> Result<FetchLimits> {
    let d = FetchLimits::default();
    Ok(FetchLimits {
        timeout: m
            .fetch
            .timeout_secs
            .map_or(d.timeout, Duration::from_secs_f64),
        max_bytes: m.fetch.max_bytes.unwrap_or(d.max_bytes),
        retries: m.fetch.retries.unwrap_or(d.retries),
        redirect_hosts: m.fetch.redirect_hosts.clone(),
        headers: expand_headers(&m.fetch.headers, |v| std::env::var(v).ok())?,
        rate_limit: m.fetch.rate_limit,
        ca_bundle: match &m.fetch.ca_bundle {
            None => Vec::new(),
            Some(p) => {
                let pem = crate::files::read_bounded(p, crate::defaults::MAX_SETTINGS_FILE)
                    .with_context(|| format!("cannot read the ca_bundle {}", p.display()))?;
                if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                    bail!("the ca_bundle {} holds no PEM certificate", p.display());
                }
                pem
            }
        },
    })
}
