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
use crate::pipeline::{self, ExecutionInfo, FetchLimits, Shard};
use crate::report::{OutputFormat, Severity, SeverityCuts};
use crate::rules::Rule;
use crate::ruleset;
use crate::triples::json::Mapping;

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

/// Lays the command line's check settings over the manifest's (a flag wins): what the run,
/// its reports and `execution.json` (hence `pff merge`) then use.
pub fn override_checks(args: &RunArgs, m: &mut Manifest) -> Result<()> {
    let c = &mut m.checks;
    c.fail_on = args.fail_on.unwrap_or(c.fail_on);
    c.fail_on_count = args.fail_on_count.unwrap_or(c.fail_on_count);
    c.fail_on_ratio = args.fail_on_ratio.unwrap_or(c.fail_on_ratio);
    if !(0.0..=1.0).contains(&c.fail_on_ratio) {
        bail!("--fail-on-ratio is a share of records in [0, 1]");
    }
    c.keep = args.keep.unwrap_or(c.keep);
    c.severity.error = args.error_confidence.unwrap_or(c.severity.error);
    c.severity.warning = args.warning_confidence.unwrap_or(c.severity.warning);
    c.min_confidence = args.min_confidence.unwrap_or(c.min_confidence);
    c.max_violations = args.max_violations.unwrap_or(c.max_violations);
    c.mapping.kind = args.mapping.unwrap_or(c.mapping.kind);
    if let Some(k) = &args.name_key {
        c.mapping.name_key = k.clone();
    }
    check_levels(c.min_confidence, c.severity.error, c.severity.warning)
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

/// Lays flags over what the rule set records. `given` holds the flags (or manifest keys) set
/// by the user; `what` names where they came from in messages (`--` for flags).
pub fn rules_with(
    paths: &[PathBuf],
    input: &super::args::InputArgs,
    error: Option<f64>,
    warning: Option<f64>,
) -> Result<RulesWith> {
    let resolved = ruleset::resolve(paths)?;
    let info = resolved.info.as_ref();
    let from = resolved
        .from
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string());
    let mapping = match info {
        None => input.mapping(),
        Some(i) => {
            let e = &i.encoding;
            let clash = |flag: &str, given: String, recorded: String| {
                anyhow::anyhow!(
                    "--{flag} {given} contradicts the rule set {from} ({flag} {recorded}), \
                     learned under {}; drop the flag (the rule set's encoding is used without \
                     it), or use rules learned under {given}",
                    ruleset::describe(e),
                )
            };
            if let Some(m) = input.mapping
                && m != e.mapping
            {
                return Err(clash("mapping", m.to_string(), e.mapping.to_string()));
            }
            if let Some(k) = &input.name_key
                && *k != e.name_key
                && e.mapping != crate::triples::MappingKind::Plain
            {
                return Err(clash("name-key", k.clone(), e.name_key.clone()));
            }
            if let Some(k) = &input.id_key
                && *k != e.id_key
            {
                return Err(clash("id-key", k.clone(), e.id_key.clone()));
            }
            if input.id_triples && !e.id_triples {
                return Err(clash("id-triples", "(given)".into(), "off".into()));
            }
            if input.shapes && !e.shapes {
                return Err(clash("shapes", "(given)".into(), "off".into()));
            }
            e.mapping()
        }
    };
    let recorded = info.and_then(|i| i.severities.as_ref());
    for (flag, given, kept) in [
        (
            "--error-confidence",
            error,
            recorded.map(|r| r.error_confidence),
        ),
        (
            "--warning-confidence",
            warning,
            recorded.map(|r| r.warning_confidence),
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
            .or(recorded.map(|r| r.error_confidence))
            .unwrap_or(defaults::ERROR_CONFIDENCE),
        warning: warning
            .or(recorded.map(|r| r.warning_confidence))
            .unwrap_or(defaults::WARNING_CONFIDENCE),
    };
    Ok(RulesWith {
        resolved,
        mapping,
        cuts,
    })
}

/// `pff run`: the rules the flags or the manifest name, as files (a rule set folder gives its
/// `rules.txt`), and what a rule set records laid under the manifest's keys and the flags: its
/// encoding where neither sets one (one that contradicts it is refused), its cut points where
/// neither does.
/// True when a rule set was named (its encoding is then the one in force, nothing guessed).
pub fn apply_rule_set(args: &mut RunArgs, m: &mut Manifest) -> Result<bool> {
    let named = if args.rules.is_empty() {
        &m.rules
    } else {
        &args.rules
    };
    let r = ruleset::resolve(named)?;
    if args.rules.is_empty() {
        m.rules = r.files.clone();
    } else {
        args.rules = r.files.clone();
    }
    let (Some(info), Some(from)) = (r.info, r.from) else {
        return Ok(false);
    };
    let e = &info.encoding;
    let c = &mut m.checks;
    let clash = |key: &str, given: &str, recorded: &str| {
        anyhow::anyhow!(
            "{key} {given} contradicts the rule set {}, learned under {} ({key} {recorded}); \
             drop it (the rule set's encoding is used without it), or use rules learned under \
             {given}",
            from.display(),
            ruleset::describe(e)
        )
    };
    let mapping = args
        .mapping
        .map(|k| ("--mapping", k))
        .or(c.given.mapping.then_some(("mapping:", c.mapping.kind)));
    if let Some((key, k)) = mapping
        && k != e.mapping
    {
        return Err(clash(key, &k.to_string(), &e.mapping.to_string()));
    }
    let name_key = args.name_key.clone().map(|k| ("--name-key", k)).or(c
        .given
        .name_key
        .then(|| ("name_key:", c.mapping.name_key.clone())));
    if let Some((key, k)) = name_key
        && k != e.name_key
        && e.mapping != crate::triples::MappingKind::Plain
    {
        return Err(clash(key, &k, &e.name_key));
    }
    if c.given.id_key && c.mapping.id_key != e.id_key {
        return Err(clash("id_key:", &c.mapping.id_key, &e.id_key));
    }
    if c.given.shapes && c.mapping.shapes != e.shapes {
        let v = |b: bool| b.to_string();
        return Err(clash("shapes:", &v(c.mapping.shapes), &v(e.shapes)));
    }
    if c.given.id_triples && c.mapping.id_triples != e.id_triples {
        let v = |b: bool| b.to_string();
        return Err(clash(
            "id_triples:",
            &v(c.mapping.id_triples),
            &v(e.id_triples),
        ));
    }
    c.mapping = e.mapping();
    if let Some(sev) = &info.severities {
        if !c.given.error_confidence {
            c.severity.error = sev.error_confidence;
        }
        if !c.given.warning_confidence {
            c.severity.warning = sev.warning_confidence;
        }
    }
    Ok(true)
}

/// What `pff validate` checks and how.
pub struct ValidateSettings {
    pub opts: check::Options,
    /// Which rules of the files are checked.
    pub keep: Box<dyn Fn(&Rule) -> bool + Send + Sync>,
    /// Rules held in memory before they are filed on disk.
    pub rule_batch: usize,
    pub mapping: Mapping,
    /// The rules files to read (a rule set's `rules.txt`).
    pub rule_files: Vec<PathBuf>,
    /// The encoding came from a rule set (nothing is guessed then).
    pub recorded: bool,
}

impl ValidateSettings {
    pub fn resolve(args: &ValidateArgs) -> Result<Self> {
        let with = rules_with(
            &args.rules,
            &args.input,
            args.error_confidence,
            args.warning_confidence,
        )?;
        check_levels(args.min_confidence, with.cuts.error, with.cuts.warning)?;
        let (min_confidence, min_correct, max_body_len) =
            (args.min_confidence, args.min_correct, args.max_body_len);
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
            keep: Box::new(move |r: &Rule| {
                r.confidence >= min_confidence
                    && r.correct.is_none_or(|c| c >= min_correct)
                    && max_body_len.is_none_or(|n| r.body.len() <= n)
            }),
            // Counting over a whole graph shares work between rules with the same body: keep
            // them all together.
            rule_batch: if args.counts_only {
                usize::MAX
            } else {
                args.rule_batch.map_or(defaults::VALIDATE_RULE_BATCH, batch)
            },
            mapping: with.mapping,
            recorded: with.resolved.info.is_some(),
            rule_files: with.resolved.files,
        })
    }
}

/// What `pff run` does: the plan, where rules and outputs are, how tasks are checked.
pub struct RunSettings {
    pub plan: Plan,
    pub rule_batch: usize,
    pub shard: Option<Shard>,
    /// The output folder, or with `dated` the folder that holds one dated folder per run.
    pub output: PathBuf,
    /// Each run in a dated folder of its own under `output` ([`pipeline::runs`]).
    pub dated: bool,
    /// Named as an execution records them (absolute, links kept): the rule ids in the task
    /// files and the final outputs are then the same for a run, a resume and a merge.
    pub rule_paths: Vec<PathBuf>,
    pub opts: check::Options,
    pub fetch: FetchLimits,
    pub mapping: Mapping,
    /// `--tasks FILE`, absolute.
    pub tasks_file: Option<PathBuf>,
}

impl RunSettings {
    pub fn resolve(args: &RunArgs, m: &Manifest) -> Result<Self> {
        if args.max_workers == Some(0) {
            bail!("--max-workers must be at least 1");
        }
        let plan = Plan::new(
            Machine::detect(),
            Requests {
                cli_workers: args.max_workers,
                manifest_workers: m.resources.max_workers,
                resource_usage: m.resources.resource_usage,
                memory_limit: args.memory_limit,
            },
        );
        let shard = args
            .shard
            .as_deref()
            .map(|s| Shard::parse(s, |v| std::env::var(v).ok()))
            .transpose()?;
        let given = args.output.clone().or_else(|| m.output.clone());
        let default_output = given.is_none();
        let mut output = given.unwrap_or_else(|| Path::new("out").join(&m.execution_id));
        if let (Some(s), None) = (shard, &args.output) {
            // Each shard writes its own folder.
            output = output.join(format!("shard-{}-of-{}", s.index, s.count));
        }
        // Shards of one execution run at different times and are merged by folder: theirs
        // are never dated.
        let dated = match shard {
            Some(_) if args.dated || m.dated => {
                bail!("--dated and --shard do not go together: each shard writes a fixed folder")
            }
            Some(_) => false,
            None => args.dated || m.dated || default_output,
        };
        let rules = if args.rules.is_empty() {
            &m.rules
        } else {
            &args.rules
        };
        if rules.is_empty() {
            bail!("no rules: give the manifest a `rules:` entry or pass --rules FILE");
        }
        let secs = args
            .time_budget
            .or(m.checks.task_time_budget_secs)
            .unwrap_or(defaults::RUN_TIME_BUDGET_SECS);
        let opts = check::Options {
            max_violations: m.checks.max_violations,
            severity: m.checks.severity,
            keep: m.checks.keep,
            parallel_rules: false,
            max_rule_work: args
                .max_rule_work
                .or(m.checks.max_rule_work)
                .unwrap_or(defaults::RUN_MAX_RULE_WORK),
            time_budget: budget("--time-budget", Some(secs))?,
            ..check::Options::default()
        };
        let d = FetchLimits::default();
        let fetch = FetchLimits {
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
        };
        Ok(Self {
            plan,
            rule_batch: args
                .rule_batch
                .map(batch)
                .or(m.resources.rule_batch)
                .unwrap_or(defaults::RUN_RULE_BATCH),
            shard,
            output,
            dated,
            rule_paths: rules.iter().map(|p| pipeline::absolute(p)).collect(),
            opts,
            fetch,
            mapping: m.checks.mapping.clone(),
            tasks_file: args.tasks.as_deref().map(pipeline::absolute),
        })
    }

    /// What `execution.json` records of this run.
    pub fn execution(&self, manifest_path: &Path, m: &Manifest) -> Result<ExecutionInfo> {
        Ok(ExecutionInfo {
            execution_id: m.execution_id.clone(),
            manifest: pipeline::absolute(manifest_path),
            manifest_digest: format!("{:016x}", pipeline::fnv1a(m.text.as_bytes())),
            rules: self.rule_paths.clone(),
            rules_digest: pipeline::rules_digest(&self.rule_paths)
                .context("cannot read the rules")?,
            manifest_tasks: m.tasks.len(),
            shard: self.shard,
            id_key: m.checks.mapping.id_key.clone(),
            mapping: m.checks.mapping.describe(),
            tasks_file: self.tasks_file.clone(),
            checks: Some(pipeline::RecordedChecks::of(&m.checks)),
            merged_from: None,
            outputs: Vec::new(),
        })
    }

    /// What `--dry-run` prints besides the plan.
    pub fn describe(&self, m: &Manifest) -> String {
        let n = self.rule_batch;
        format!(
            "execution {}: {} tasks ({}), rules {} (held in memory up to {n} rules, else filed \
             on disk and read per record, {n} at a time), mapping {}, output {}",
            m.execution_id,
            m.tasks.len(),
            m.tasks.key_rule(),
            self.rule_paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            self.mapping.describe(),
            if self.dated {
                format!("{}/<UTC start time> (dated)", self.output.display())
            } else {
                self.output.display().to_string()
            }
        )
    }
}
