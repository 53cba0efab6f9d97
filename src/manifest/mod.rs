//! Run manifests (YAML): the execution id, the tasks (records to check), the step sequence,
//! the rules and the output. Accepts the predecessor's manifests as they are.
//!
//! Every problem is collected and reported at once with file, line and column, before any work
//! starts.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::report::{FailOn, OutputFormat, Severity};

/// Step sequences pff knows; a task's `sequence` must name one.
pub const SEQUENCES: &[(&str, &[&str])] = &[
    ("Validar Json", &["read", "triples", "check", "report"]),
    ("validate", &["read", "triples", "check", "report"]),
];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    #[serde(default)]
    execution_id: Option<Spanned<String>>,
    #[serde(default)]
    max_workers: Option<Spanned<usize>>,
    /// Percent of the machine to use.
    #[serde(default)]
    resource_usage: Option<Spanned<f64>>,
    #[serde(default)]
    rules: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    output: Option<String>,
    #[serde(default)]
    sequence: Option<Spanned<String>>,
    #[serde(default)]
    min_confidence: Option<Spanned<f64>>,
    #[serde(default)]
    fail_on: Option<FailOn>,
    #[serde(default)]
    fail_on_count: Option<u64>,
    #[serde(default)]
    fail_on_ratio: Option<Spanned<f64>>,
    #[serde(default)]
    keep: Option<Severity>,
    #[serde(default)]
    error_confidence: Option<Spanned<f64>>,
    #[serde(default)]
    warning_confidence: Option<Spanned<f64>>,
    #[serde(default)]
    id_key: Option<String>,
    /// The tasks in a file of their own (a key a line, CSV or JSON Lines), beside the manifest.
    #[serde(default)]
    tasks_file: Option<Spanned<String>>,
    /// The derivations added to the plain triples (`plain`, `nested`, `tmf`).
    #[serde(default)]
    mapping: Option<crate::triples::MappingKind>,
    /// The key that names a name/value entry under `nested` and `tmf`.
    #[serde(default)]
    name_key: Option<String>,
    #[serde(default)]
    max_violations: Option<usize>,
    /// Report formats written to the output folder at the end of the run.
    #[serde(default)]
    reports: Vec<OutputFormat>,
    #[serde(default)]
    fetch_timeout_secs: Option<Spanned<f64>>,
    #[serde(default)]
    fetch_max_bytes: Option<u64>,
    #[serde(default)]
    fetch_retries: Option<Spanned<u32>>,
    #[serde(default)]
    fetch_redirect_hosts: Vec<String>,
    /// `https://host/lines/{msisdn}`: the source of every task without its own.
    #[serde(default)]
    source_template: Option<Spanned<String>>,
    /// HTTP headers sent with every fetch; `${VAR}` is read from the environment at run time.
    #[serde(default)]
    headers: std::collections::BTreeMap<String, String>,
    /// Fetches started per second, at most.
    #[serde(default)]
    rate_limit: Option<Spanned<f64>>,
    /// PEM certificates of a private certificate authority, trusted besides the usual roots.
    #[serde(default)]
    ca_bundle: Option<Spanned<String>>,
    /// An earlier execution's output folder to compare findings with, or `last`.
    #[serde(default)]
    baseline: Option<String>,
    /// Each run in a dated folder of its own under the output folder.
    #[serde(default)]
    dated: Option<bool>,
    /// `(node, id_key, node)` for every node named by its id (the predecessor's graph).
    #[serde(default)]
    id_triples: Option<bool>,
    /// Every value's shape as a second value of its slot.
    #[serde(default)]
    shapes: Option<bool>,
    one_graph: Option<bool>,
    /// With a baseline: fail on new findings only.
    #[serde(default)]
    fail_on_new: Option<bool>,
    #[serde(default)]
    max_rule_work: Option<u64>,
    #[serde(default)]
    task_time_budget_secs: Option<Spanned<f64>>,
    #[serde(default)]
    rule_batch: Option<Spanned<u64>>,
    #[serde(default)]
    tasks: Vec<RawTask>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTask {
    /// The task's key (the predecessor's MSISDN); names the record file when `source` is absent.
    msisdn: Spanned<String>,
    #[serde(default)]
    sequence: Option<Spanned<String>>,
    #[serde(default)]
    source: Option<Spanned<String>>,
    /// Anything the task carries along (the predecessor's `payload:`): kept in its result.
    #[serde(default)]
    payload: Option<serde_json::Value>,
}

/// One record file to check.
#[derive(Debug, Clone, PartialEq)]
pub struct Task {
    /// The task's key (unique in the manifest).
    pub id: String,
    /// The request the results sheet names it by (`sequence:`).
    pub sequence: String,
    /// Where the record comes from.
    pub source: Source,
    /// What the task carries along (`payload:`), written into its result as it is.
    pub payload: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
/// Where a task's data comes from.
pub enum Source {
    /// A file, resolved against the manifest's folder.
    File(PathBuf),
    /// An `http(s)://` URL.
    Url(String),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Url(u) => f.write_str(u),
        }
    }
}

/// A checked manifest: the execution, its tasks and rules, and settings in three groups.
#[derive(Debug, Clone)]
pub struct Manifest {
    /// The manifest file as given.
    pub path: PathBuf,
    /// The manifest's text, as read (kept beside the outputs for `pff merge`).
    pub text: String,
    /// The execution's name (`execution_id:`, else `exec-YYYYmmddHHMM`).
    pub execution_id: String,
    /// The manifest names no execution: its id was made from the time (`exec-YYYYmmddHHMM`,
    /// UTC), as the predecessor did.
    pub execution_id_generated: bool,
    /// Rule files, resolved against the manifest's folder (empty: `--rules` must name one).
    pub rules: Vec<PathBuf>,
    /// The output folder (`output:`).
    pub output: Option<PathBuf>,
    /// Reports written to the output folder at the end (`report.md`, `junit.xml`, ...).
    pub reports: Vec<OutputFormat>,
    /// How much of the machine a run may use.
    pub resources: Resources,
    /// What is checked and kept, and when findings fail the run.
    pub checks: Checks,
    /// How `http(s)` sources are fetched.
    pub fetch: FetchSettings,
    /// The tasks, inline or read again from a tasks file on every pass.
    pub tasks: TaskList,
    /// An earlier execution's output folder (resolved against the manifest's folder), or the
    /// newest complete dated run.
    pub baseline: Option<BaselineChoice>,
    /// Each run in a dated folder of its own under the output folder (`dated: true`; always
    /// so under the default output).
    pub dated: bool,
    /// With a baseline: fail on new findings only.
    pub fail_on_new: bool,
    /// Task sources found in the working directory rather than beside the manifest (the
    /// predecessor's way): the manifest's folder is tried first.
    pub sources_from_cwd: usize,
}

/// The longest duration pff accepts for a budget or a timeout: 30 days.
pub const MAX_SECS: f64 = 30.0 * 24.0 * 3600.0;

/// A duration out of range.
#[derive(Debug, thiserror::Error)]
#[error("a duration is a number of seconds above 0 and at most {MAX_SECS} (30 days), not {0}")]
pub struct DurationError(pub f64);

/// Checks a duration in seconds: positive, finite, at most [`MAX_SECS`].
pub fn check_secs(secs: f64) -> Result<std::time::Duration, DurationError> {
    if secs > 0.0 && secs <= MAX_SECS {
        std::time::Duration::try_from_secs_f64(secs).map_err(|_| DurationError(secs))
    } else {
        Err(DurationError(secs))
    }
}

/// The most retries of one fetch.
pub const MAX_RETRIES: u32 = 20;

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// 1-based line.
    pub line: u64,
    /// 1-based column.
    pub column: u64,
    /// What is wrong, and the fix when there is one.
    pub message: String,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}")]
    /// The manifest could not be read.
    Io {
        /// The manifest file.
        path: String,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error("{}", problems_message(.path, .problems))]
    /// The manifest was read but has problems (all of them, located).
    Invalid {
        /// The manifest file.
        path: String,
        /// Each problem with its line and column.
        problems: Vec<Problem>,
    },
}

fn problems_message(path: &str, problems: &[Problem]) -> String {
    let mut s = format!(
        "manifest {path} has {} problem{}:",
        problems.len(),
        if problems.len() == 1 { "" } else { "s" }
    );
    for p in problems {
        if p.line > 0 {
            s.push_str(&format!(
                "\n  {path}:{}:{}: {}",
                p.line, p.column, p.message
            ));
        } else {
            s.push_str(&format!("\n  {path}: {}", p.message));
        }
    }
    s
}

fn at<T>(s: &Spanned<T>, message: String) -> Problem {
    Problem {
        line: s.referenced.line(),
        column: s.referenced.column(),
        message,
    }
}

impl Manifest {
    /// The manifest's `reports:` followed by `extra` (from the command line), each once.
    pub fn report_formats(&self, extra: &[OutputFormat]) -> Vec<OutputFormat> {
        let mut formats: Vec<OutputFormat> = Vec::new();
        for f in self.reports.iter().chain(extra) {
            if !formats.contains(f) {
                formats.push(*f);
            }
        }
        formats
    }

    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> Result<Manifest, ManifestError> {
        Self::load_with_tasks(path, None)
    }

    /// [`Self::load`], the tasks read from `tasks` (a tasks file, `pff run --tasks`) instead
    /// of the manifest's when given.
    pub fn load_with_tasks(path: &Path, tasks: Option<&Path>) -> Result<Manifest, ManifestError> {
        let max = crate::defaults::MAX_SETTINGS_FILE;
        let text =
            crate::files::read_bounded_text(path, max).map_err(|source| ManifestError::Io {
                path: path.display().to_string(),
                source,
            })?;
        Self::parse_with(path, &text, tasks, true)
    }

    /// Checks manifest text; relative paths resolve against `path`'s folder.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        Self::parse_with(path, text, None, true)
    }

    /// A manifest as an execution recorded it (`execution.manifest.yaml`), for `pff merge`:
    /// the task sources are not read again, so they are not required to exist. `tasks`: the
    /// tasks file the execution was given on the command line, if any.
    pub fn parse_recorded(
        path: &Path,
        text: &str,
        tasks: Option<&Path>,
    ) -> Result<Manifest, ManifestError> {
        Self::parse_with(path, text, tasks, false)
    }

    fn parse_with(
        path: &Path,
        text: &str,
        given: Option<&Path>,
        check_sources: bool,
    ) -> Result<Manifest, ManifestError> {
        let shown = path.display().to_string();
        let mut raw = parse_raw(&shown, text)?;
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut problems = check_fields(&raw);
        let rules = rule_files(&raw, &base, &mut problems);
        let mut from_cwd = 0;
        let mut tasks = tasks(
            &raw,
            &base,
            given,
            check_sources,
            &mut from_cwd,
            &mut problems,
        );
        // `payload: !file` tags belong to the manifest's own tasks.
        if check_sources
            && given.is_none()
            && let TaskList::Inline(v) = &mut tasks
        {
            read_file_payloads(text, &base, v, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ManifestError::Invalid {
                path: shown,
                problems,
            });
        }
        let (checks, fetch) = (checks_of(&mut raw), fetch_of(&mut raw, &base));
        Ok(Manifest {
            path: path.to_path_buf(),
            text: text.to_string(),
            execution_id_generated: raw.execution_id.is_none(),
            execution_id: raw
                .execution_id
                .map_or_else(generated_execution_id, |e| e.value),
            rules,
            output: raw.output.map(PathBuf::from),
            reports: raw.reports,
            resources: Resources {
                max_workers: raw.max_workers.map(|w| w.value),
                resource_usage: raw.resource_usage.map(|r| r.value),
                rule_batch: raw
                    .rule_batch
                    .map(|v| usize::try_from(v.value).unwrap_or(usize::MAX)),
            },
            checks,
            fetch,
            tasks,
            sources_from_cwd: from_cwd,
            baseline: raw.baseline.as_deref().map(|b| match b {
                LAST => BaselineChoice::Last,
                _ => BaselineChoice::Folder(resolve(&base, b)),
            }),
            dated: raw.dated.unwrap_or(false),
            fail_on_new: raw.fail_on_new.unwrap_or(false),
        })
    }
}

/// `{msisdn}` in a source replaced by the task's key: percent-encoded in a URL (a key with `/`
/// or `?` stays one path segment), verbatim in a file name.
pub fn fill_template(template: &str, key: &str) -> String {
    if !template.contains("{msisdn}") {
        return template.to_string();
    }
    let url = template.starts_with("http://") || template.starts_with("https://");
    let value = if url {
        key.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect()
    } else {
        key.to_string()
    };
    template.replace("{msisdn}", &value)
}

/// Resolves a manifest's relative path against its folder.
fn resolve(base: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The problems of the manifest's settings (the execution id, numbers out of range).
fn check_fields(raw: &Raw) -> Vec<Problem> {
    let mut problems = Vec::new();
    check_execution_id(raw, &mut problems);
    check_ranges(raw, &mut problems);
    problems
}

/// What `--baseline` / `baseline:` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaselineChoice {
    /// An earlier execution's output folder.
    Folder(PathBuf),
    /// `last`: the newest complete dated run of this execution before this one (none on the
    /// first night). A folder named `last` is written `./last`.
    Last,
}

/// The word that makes a baseline the last complete dated run.
pub const LAST: &str = "last";

impl std::str::FromStr for BaselineChoice {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            LAST => BaselineChoice::Last,
            _ => BaselineChoice::Folder(PathBuf::from(s)),
        })
    }
}

/// The execution id names a folder inside the output folder.
fn check_execution_id(raw: &Raw, problems: &mut Vec<Problem>) {
    if let Some(id) = &raw.execution_id {
        if id.value.trim().is_empty() {
            problems.push(at(id, "execution_id is empty".into()));
        } else if id.value.chars().all(|c| c == '.') {
            problems.push(at(
                id,
                format!(
                    "execution_id `{}` names a folder outside the output folder; use letters \
                     or digits",
                    id.value
                ),
            ));
        } else if !id
            .value
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.".contains(c))
        {
            problems.push(at(
                id,
                "execution_id may hold only letters, digits, `-`, `_` and `.` (it names the \
                 output folder)"
                    .into(),
            ));
        }
    }
}

/// Numbers in their ranges: workers, shares, durations, retries, cut points.
fn check_ranges(raw: &Raw, problems: &mut Vec<Problem>) {
    if let Some(w) = &raw.max_workers
        && w.value == 0
    {
        problems.push(at(w, "max_workers must be at least 1".into()));
    }
    if let Some(r) = &raw.resource_usage
        && !(r.value > 0.0 && r.value <= 100.0)
    {
        problems.push(at(r, "resource_usage is a percentage in (0, 100]".into()));
    }
    if let Some(t) = &raw.fetch_timeout_secs
        && !(t.value > 0.0 && t.value <= 3600.0)
    {
        problems.push(at(t, "fetch_timeout_secs must be in (0, 3600]".into()));
    }
    if let Some(t) = &raw.task_time_budget_secs
        && let Err(e) = check_secs(t.value)
    {
        problems.push(at(t, format!("task_time_budget_secs: {e}")));
    }
    if let Some(r) = &raw.fetch_retries
        && r.value > MAX_RETRIES
    {
        problems.push(at(
            r,
            format!("fetch_retries must be at most {MAX_RETRIES}"),
        ));
    }
    if let Some(v) = &raw.rule_batch
        && v.value == 0
    {
        problems.push(at(v, "rule_batch must be at least 1".into()));
    }
    if let Some(c) = &raw.min_confidence
        && !(0.0..=1.0).contains(&c.value)
    {
        problems.push(at(c, "min_confidence must be in [0, 1]".into()));
    }
    for (name, c) in [
        ("error_confidence", &raw.error_confidence),
        ("warning_confidence", &raw.warning_confidence),
    ] {
        if let Some(c) = c
            && !(0.0..=1.0).contains(&c.value)
        {
            problems.push(at(c, format!("{name} must be in [0, 1]")));
        }
    }
    if let Some(r) = &raw.rate_limit
        && !(r.value >= MIN_RATE_LIMIT && r.value.is_finite())
    {
        problems.push(at(
            r,
            format!(
                "rate_limit is a number of fetches per second, at least {MIN_RATE_LIMIT} (one \
                 an hour)"
            ),
        ));
    }
    if let Some(r) = &raw.fail_on_ratio
        && !(0.0..=1.0).contains(&r.value)
    {
        problems.push(at(
            r,
            "fail_on_ratio is a share of records in [0, 1]".into(),
        ));
    }
    if let (Some(e), Some(w)) = (&raw.error_confidence, &raw.warning_confidence)
        && w.value > e.value
    {
        problems.push(at(
            w,
            "warning_confidence must not be above error_confidence".into(),
        ));
    }
}

/// The rule files, each checked to exist.
fn rule_files(raw: &Raw, base: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let rules: Vec<PathBuf> = match raw.rules.as_ref().map(|r| &r.value) {
        None => Vec::new(),
        Some(OneOrMany::One(r)) => vec![resolve(base, r)],
        Some(OneOrMany::Many(rs)) => rs.iter().map(|r| resolve(base, r)).collect(),
    };
    if let Some(spanned) = &raw.rules {
        // A rules file, or a rule set folder (checked when it is read).
        for p in rules.iter().filter(|p| !p.is_file() && !p.is_dir()) {
            problems.push(at(
                spanned,
                format!("rules file {} does not exist", p.display()),
            ));
        }
    }
    rules
}

mod checks;
mod seen;
mod tasklist;
mod tasks;
mod tasks_file;
mod text;

pub use checks::{Checks, FetchSettings, Given, MIN_RATE_LIMIT, Resources};
use checks::{checks_of, fetch_of};
use tasklist::tasks;
pub use tasks::{TaskList, Tasks, TasksError};
use text::{generated_execution_id, parse_raw, read_file_payloads};

#[cfg(test)]
mod tests;
