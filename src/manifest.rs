//! Run manifests (YAML): the execution id, the tasks (records to check), the step sequence,
//! the rules and the output. Accepts the predecessor's manifests as they are.
//!
//! Every problem is collected and reported at once with file, line and column, before any work
//! starts.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

use crate::defaults;
use crate::report::{FailOn, OutputFormat, Severity, SeverityCuts};

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
    #[serde(default)]
    max_rule_work: Option<u64>,
    #[serde(default)]
    task_time_budget_secs: Option<Spanned<f64>>,
    #[serde(default)]
    rule_batch: Option<Spanned<u64>>,
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
    pub sequence: String,
    /// Where the record comes from.
    pub source: Source,
    /// What the task carries along (`payload:`), written into its result as it is.
    pub payload: Option<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq)]
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
    pub path: PathBuf,
    /// The manifest's text, as read (kept beside the outputs for `pff merge`).
    pub text: String,
    pub execution_id: String,
    /// The manifest names no execution: its id was made from the time (`exec-YYYYmmddHHMM`,
    /// UTC), as the predecessor did.
    pub execution_id_generated: bool,
    /// Rule files, resolved against the manifest's folder (empty: `--rules` must name one).
    pub rules: Vec<PathBuf>,
    pub output: Option<PathBuf>,
    /// Reports written to the output folder at the end (`report.md`, `junit.xml`, ...).
    pub reports: Vec<OutputFormat>,
    pub resources: Resources,
    pub checks: Checks,
    pub fetch: FetchSettings,
    pub tasks: Vec<Task>,
    /// Task sources found in the working directory rather than beside the manifest (the
    /// predecessor's way): the manifest's folder is tried first.
    pub sources_from_cwd: usize,
}

/// How much of the machine a run may use (`None`: the command line or the plan decides).
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub max_workers: Option<usize>,
    /// Percent of the machine to use (1..=100).
    pub resource_usage: Option<f64>,
    /// Rules held in memory at once: a larger rule set is filed on disk and read in chunks of
    /// at most this many per record.
    pub rule_batch: Option<usize>,
}

/// What is checked and what is kept (defaults from [`crate::defaults`]).
#[derive(Debug, Clone)]
pub struct Checks {
    pub min_confidence: f64,
    pub fail_on: FailOn,
    /// Records with a finding at or above `fail_on` that a run tolerates: more fail it.
    pub fail_on_count: u64,
    /// Share of records with such a finding that a run tolerates.
    pub fail_on_ratio: f64,
    /// Findings at or above this severity are written with their evidence.
    pub keep: Severity,
    /// Severity cut points on a finding's score.
    pub severity: SeverityCuts,
    pub id_key: String,
    pub max_violations: usize,
    /// Bindings one rule may try on one record before it is cut short (reported).
    pub max_rule_work: Option<u64>,
    /// Seconds one task may take; rules not started by then are skipped (reported).
    pub task_time_budget_secs: Option<f64>,
}

impl Checks {
    /// When findings fail the run.
    pub fn fail_policy(&self) -> crate::report::FailPolicy {
        crate::report::FailPolicy {
            on: self.fail_on,
            count: self.fail_on_count,
            ratio: self.fail_on_ratio,
        }
    }
}

/// How `http(s)` sources are fetched (and the size limit of every source).
#[derive(Debug, Clone, Default)]
pub struct FetchSettings {
    pub timeout_secs: Option<f64>,
    pub max_bytes: Option<u64>,
    pub retries: Option<u32>,
    /// Hosts an `http(s)` source may redirect to besides its own.
    pub redirect_hosts: Vec<String>,
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
    pub line: u64,
    pub column: u64,
    pub message: String,
}

/// Why a manifest was refused.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read manifest {path}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{}", problems_message(.path, .problems))]
    Invalid {
        path: String,
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
        let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Checks manifest text; relative paths resolve against `path`'s folder.
    pub fn parse(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        Self::parse_with(path, text, true)
    }

    /// A manifest as an execution recorded it (`execution.manifest.yaml`), for `pff merge`:
    /// the task sources are not read again, so they are not required to exist.
    pub fn parse_recorded(path: &Path, text: &str) -> Result<Manifest, ManifestError> {
        Self::parse_with(path, text, false)
    }

    fn parse_with(path: &Path, text: &str, check_sources: bool) -> Result<Manifest, ManifestError> {
        let shown = path.display().to_string();
        // Unknown keys are found by a scan of the text first, so that every one is reported
        // (with a suggestion); then the text is parsed with each offending line set aside in
        // turn, so that every value of the wrong type is reported too, not only the first.
        let mut problems = unknown_keys(text);
        let mut lines: Vec<String> = text.lines().map(String::from).collect();
        for p in &problems {
            blank(&mut lines, p.line);
        }
        let raw = loop {
            let attempt = lines.join("\n");
            match serde_saphyr::from_str::<Raw>(&attempt) {
                Ok(raw) if problems.is_empty() => break raw,
                Ok(_) => break return_invalid(&shown, problems)?,
                Err(e) => {
                    let (line, column) = e.location().map_or((0, 0), |l| (l.line(), l.column()));
                    let message = parser_message(&e.to_string());
                    let set_aside = !problems.is_empty() && message.starts_with("missing field");
                    if set_aside || problems.iter().any(|p| p.line == line) || line == 0 {
                        // A consequence of a line set aside (or nothing more to locate).
                        if problems.is_empty() {
                            problems.push(Problem {
                                line,
                                column,
                                message,
                            });
                        }
                        break return_invalid(&shown, problems)?;
                    }
                    let original = text
                        .lines()
                        .nth(line.saturating_sub(1) as usize)
                        .unwrap_or("");
                    let key = original
                        .trim_start_matches([' ', '-'])
                        .split_once(':')
                        .map(|(k, _)| k.trim())
                        .filter(|k| !k.is_empty() && !k.contains(' '));
                    problems.push(Problem {
                        line,
                        column: tab_column(text, line).unwrap_or(column),
                        message: match key {
                            Some(k) => format!("`{k}`: {message}"),
                            None => message,
                        },
                    });
                    if problems.len() >= 50 || !blank(&mut lines, line) {
                        break return_invalid(&shown, problems)?;
                    }
                }
            }
        };
        let base = path.parent().unwrap_or(Path::new("")).to_path_buf();
        let mut problems = check_fields(&raw);
        let rules = rule_files(&raw, &base, &mut problems);
        let mut from_cwd = 0;
        let mut tasks = tasks(&raw, &base, check_sources, &mut from_cwd, &mut problems);
        if check_sources {
            read_file_payloads(text, &base, &mut tasks, &mut problems);
        }
        if !problems.is_empty() {
            return Err(ManifestError::Invalid {
                path: shown,
                problems,
            });
        }
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
            checks: Checks {
                min_confidence: raw
                    .min_confidence
                    .map_or(defaults::MIN_CONFIDENCE, |c| c.value),
                fail_on: raw.fail_on.unwrap_or_default(),
                fail_on_count: raw.fail_on_count.unwrap_or(0),
                fail_on_ratio: raw.fail_on_ratio.map_or(0.0, |r| r.value),
                keep: raw.keep.unwrap_or(defaults::KEEP),
                severity: SeverityCuts {
                    error: raw
                        .error_confidence
                        .map_or(defaults::ERROR_CONFIDENCE, |c| c.value),
                    warning: raw
                        .warning_confidence
                        .map_or(defaults::WARNING_CONFIDENCE, |c| c.value),
                },
                id_key: raw.id_key.unwrap_or_else(|| defaults::ID_KEY.into()),
                max_violations: raw.max_violations.unwrap_or(defaults::MAX_VIOLATIONS),
                max_rule_work: raw.max_rule_work,
                task_time_budget_secs: raw.task_time_budget_secs.map(|t| t.value),
            },
            fetch: FetchSettings {
                timeout_secs: raw.fetch_timeout_secs.map(|t| t.value),
                max_bytes: raw.fetch_max_bytes,
                retries: raw.fetch_retries.map(|r| r.value),
                redirect_hosts: raw.fetch_redirect_hosts,
            },
            tasks,
            sources_from_cwd: from_cwd,
        })
    }
}

/// `payload: !file PATH` (the predecessor's way to attach a file): the task's payload is the
/// file's content — its JSON when it parses as JSON, else its text. The file is looked for
/// beside the manifest, then in the working directory. (The YAML parser keeps only the tag's
/// value, the path; the tag is found here, on the task's own `payload:` line.)
fn read_file_payloads(text: &str, base: &Path, tasks: &mut [Task], problems: &mut Vec<Problem>) {
    let mut in_tasks = false;
    let mut task: Option<usize> = None;
    for (n, line) in text.lines().enumerate() {
        if !line.starts_with([' ', '-', '#', '\t']) {
            in_tasks = line.starts_with("tasks:");
            continue;
        }
        if !in_tasks {
            continue;
        }
        if line.starts_with("- ") {
            task = Some(task.map_or(0, |t| t + 1));
        }
        let own = line
            .strip_prefix("- ")
            .or_else(|| line.strip_prefix("  "))
            .filter(|l| !l.starts_with(' '));
        let Some(path) = own
            .and_then(|l| l.strip_prefix("payload:"))
            .map(str::trim_start)
            .and_then(|v| v.strip_prefix("!file"))
            .map(|v| v.trim().trim_matches(['\'', '"']))
        else {
            continue;
        };
        let Some(t) = task.and_then(|i| tasks.get_mut(i)) else {
            continue;
        };
        let beside = resolve(base, path);
        let found = [beside.as_path(), Path::new(path)]
            .into_iter()
            .find_map(|p| std::fs::read(p).ok());
        match found {
            Some(bytes) => {
                t.payload = Some(serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                    serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
                }));
            }
            None => problems.push(Problem {
                line: n as u64 + 1,
                column: (line.len() - line.trim_start_matches([' ', '-']).len()) as u64 + 1,
                message: format!(
                    "payload file {path} exists neither beside the manifest ({}) nor in the \
                     working directory",
                    beside.display()
                ),
            }),
        }
    }
}

/// `exec-YYYYmmddHHMM` of the current time (UTC): the predecessor's default execution id.
fn generated_execution_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "exec-{year:04}{month:02}{day:02}{:02}{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
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
    problems
}

/// The rule files, each checked to exist.
fn rule_files(raw: &Raw, base: &Path, problems: &mut Vec<Problem>) -> Vec<PathBuf> {
    let rules: Vec<PathBuf> = match raw.rules.as_ref().map(|r| &r.value) {
        None => Vec::new(),
        Some(OneOrMany::One(r)) => vec![resolve(base, r)],
        Some(OneOrMany::Many(rs)) => rs.iter().map(|r| resolve(base, r)).collect(),
    };
    if let Some(spanned) = &raw.rules {
        for p in rules.iter().filter(|p| !p.is_file()) {
            problems.push(at(
                spanned,
                format!("rules file {} does not exist", p.display()),
            ));
        }
    }
    rules
}

/// The tasks: unique keys, known sequences, sources that exist (when `check_sources`).
fn tasks(
    raw: &Raw,
    base: &Path,
    check_sources: bool,
    from_cwd: &mut usize,
    problems: &mut Vec<Problem>,
) -> Vec<Task> {
    let known = |name: &str| SEQUENCES.iter().any(|(n, _)| *n == name);
    let names = || {
        SEQUENCES
            .iter()
            .map(|(n, _)| format!("`{n}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if let Some(s) = &raw.sequence
        && !known(&s.value)
    {
        problems.push(at(
            s,
            format!("unknown sequence `{}`; known: {}", s.value, names()),
        ));
    }
    if raw.tasks.is_empty() {
        problems.push(Problem {
            line: 0,
            column: 0,
            message: "`tasks` is empty: nothing to run".into(),
        });
    }
    let mut seen: HashMap<&str, u64> = HashMap::new();
    let mut tasks = Vec::new();
    for t in &raw.tasks {
        if let Some(first) = seen.insert(&t.msisdn.value, t.msisdn.referenced.line()) {
            problems.push(at(
                &t.msisdn,
                format!(
                    "duplicate task `{}` (first at line {first})",
                    t.msisdn.value
                ),
            ));
        }
        let sequence = match (&t.sequence, &raw.sequence) {
            (Some(s), _) => {
                if !known(&s.value) {
                    problems.push(at(
                        s,
                        format!("unknown sequence `{}`; known: {}", s.value, names()),
                    ));
                }
                s.value.clone()
            }
            (None, Some(s)) => s.value.clone(),
            (None, None) => defaults::SEQUENCE.to_string(),
        };
        let src = t.source.as_ref().unwrap_or(&t.msisdn);
        let source = if src.value.starts_with("http://") || src.value.starts_with("https://") {
            Source::Url(src.value.clone())
        } else {
            let p = resolve(base, &src.value);
            let here = Path::new(&src.value);
            if !check_sources || p.is_file() {
                Source::File(p)
            } else if here.is_file() {
                // The predecessor resolved task paths against the working directory.
                *from_cwd += 1;
                Source::File(here.to_path_buf())
            } else {
                problems.push(at(
                    src,
                    format!(
                        "task source {} exists neither beside the manifest ({}) nor in the \
                         working directory ({})",
                        src.value,
                        p.display(),
                        here.display()
                    ),
                ));
                Source::File(p)
            }
        };
        tasks.push(Task {
            id: t.msisdn.value.clone(),
            sequence,
            source,
            payload: t.payload.clone(),
        });
    }
    tasks
}

/// Sets 1-based `line` aside (a comment), keeping the line numbers; false when there is none.
fn blank(lines: &mut [String], line: u64) -> bool {
    match usize::try_from(line)
        .ok()
        .and_then(|l| l.checked_sub(1))
        .and_then(|i| lines.get_mut(i))
    {
        Some(l) if !l.starts_with('#') => {
            // A task entry's first key starts the entry: keep the dash.
            *l = if l.trim_start().starts_with("- ") {
                let indent = l.len() - l.trim_start().len();
                format!("{}- {{}}", " ".repeat(indent))
            } else {
                "#".to_string()
            };
            true
        }
        _ => false,
    }
}

/// Refuses a manifest with its problems, sorted by place.
fn return_invalid(path: &str, mut problems: Vec<Problem>) -> Result<Raw, ManifestError> {
    problems.sort_by_key(|p| (p.line, p.column));
    Err(ManifestError::Invalid {
        path: path.to_string(),
        problems,
    })
}

/// The parser's message without its own `error: line L column C: ` prefix (the location is
/// printed once, as `file:line:column`).
fn parser_message(s: &str) -> String {
    let first = s.lines().next().unwrap_or(s);
    let rest = first.strip_prefix("error: ").unwrap_or(first);
    match rest.strip_prefix("line ").and_then(|r| r.split_once(": ")) {
        Some((location, message)) if location.contains("column") => message.to_string(),
        _ => rest.to_string(),
    }
}

/// The column of the first TAB on 1-based `line`, for the parser's complaint about TABs.
fn tab_column(text: &str, line: u64) -> Option<u64> {
    let l = text
        .lines()
        .nth(usize::try_from(line).ok()?.checked_sub(1)?)?;
    let at = l.find('\t')?;
    Some(l[..at].chars().count() as u64 + 1)
}

/// Keys a manifest may have, at the top and in a task.
const TOP_KEYS: &[&str] = &[
    "execution_id",
    "max_workers",
    "resource_usage",
    "rules",
    "output",
    "sequence",
    "min_confidence",
    "fail_on",
    "fail_on_count",
    "fail_on_ratio",
    "keep",
    "error_confidence",
    "warning_confidence",
    "id_key",
    "max_violations",
    "reports",
    "fetch_timeout_secs",
    "fetch_max_bytes",
    "fetch_retries",
    "fetch_redirect_hosts",
    "max_rule_work",
    "task_time_budget_secs",
    "rule_batch",
    "tasks",
];
const TASK_KEYS: &[&str] = &["msisdn", "sequence", "source", "payload"];

/// Every unknown key of a manifest (top-level keys at column 1, task keys in the `tasks`
/// list), each with the known key it was probably meant to be.
fn unknown_keys(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut in_tasks = false;
    for (n, line) in text.lines().enumerate() {
        let key_at = |l: &str, indent: usize| {
            let k: String = l[indent..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!k.is_empty() && l[indent + k.len()..].starts_with(':')).then_some(k)
        };
        let (key, indent, known) = if !line.starts_with([' ', '-', '#', '\t']) {
            let Some(k) = key_at(line, 0) else { continue };
            in_tasks = k == "tasks";
            (k, 0, TOP_KEYS)
        } else if in_tasks
            && (line.starts_with("- ")
                || (line.starts_with("  ") && !line[2..].starts_with([' ', '-', '#'])))
        {
            // A task's own keys sit at column 3; deeper lines are values (a payload).
            let Some(k) = key_at(line, 2) else {
                continue;
            };
            (k, 2, TASK_KEYS)
        } else {
            continue;
        };
        if known.contains(&key.as_str()) {
            continue;
        }
        let hint = known
            .iter()
            .map(|k| (distance(k, &key), *k))
            .filter(|(d, k)| *d <= 2.max(k.len() / 4))
            .min()
            .map_or_else(String::new, |(_, k)| format!("; did you mean `{k}`?"));
        problems.push(Problem {
            line: n as u64 + 1,
            column: indent as u64 + 1,
            message: format!(
                "unknown key `{key}`{hint} (known {}: {})",
                if indent == 0 { "keys" } else { "task keys" },
                known.join(", ")
            ),
        });
    }
    problems
}

/// Levenshtein distance (for "did you mean").
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::TempDir::new().unwrap();
        for f in files {
            std::fs::write(d.path().join(f), "{}").unwrap();
        }
        d
    }

    #[test]
    fn predecessor_manifest_as_is() {
        let d = dir_with(&["test.json"]);
        let m = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: execucao-gerada\nmax_workers: 16\ntasks:\n- msisdn: test.json\n  sequence: Validar Json\n",
        )
        .unwrap();
        assert_eq!(m.execution_id, "execucao-gerada");
        assert_eq!(m.resources.max_workers, Some(16));
        assert_eq!(m.tasks[0].sequence, "Validar Json");
        assert_eq!(m.tasks[0].source, Source::File(d.path().join("test.json")));
    }

    #[test]
    fn all_problems_at_once_with_locations() {
        let d = dir_with(&["a.json"]);
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nrules: missing.rules\ntasks:\n- msisdn: a.json\n- msisdn: a.json\n- msisdn: b.json\n  sequence: Nope\n",
        )
        .unwrap_err();
        let ManifestError::Invalid { problems, .. } = &err else {
            panic!()
        };
        let msgs: Vec<_> = problems
            .iter()
            .map(|p| (p.line, p.message.as_str()))
            .collect();
        assert_eq!(problems.len(), 4, "{msgs:?}");
        assert_eq!(problems[0].line, 2);
        assert!(problems[0].message.contains("missing.rules"));
        assert!(
            problems[1]
                .message
                .contains("duplicate task `a.json` (first at line 4)")
        );
        assert_eq!(problems[1].line, 5);
        assert!(
            problems[2]
                .message
                .contains("unknown sequence `Nope`; known: `Validar Json`, `validate`")
        );
        assert!(
            problems[3]
                .message
                .contains("b.json exists neither beside the manifest"),
            "{}",
            problems[3].message
        );
        assert!(err.to_string().contains("m.yaml:7:"), "{err}");
    }

    #[test]
    fn execution_ids_that_leave_the_folder_and_absurd_durations_are_refused() {
        let d = dir_with(&["a.json"]);
        for (yaml, want) in [
            ("execution_id: '..'\n", "outside the output folder"),
            ("execution_id: '.'\n", "outside the output folder"),
            ("execution_id: a/b\n", "may hold only"),
            ("execution_id: x\ntask_time_budget_secs: 1e19\n", "at most"),
            ("execution_id: x\ntask_time_budget_secs: .nan\n", "above 0"),
            ("execution_id: x\nfetch_retries: 1000000\n", "at most 20"),
        ] {
            let err = Manifest::parse(
                &d.path().join("m.yaml"),
                &format!("{yaml}tasks:\n- msisdn: a.json\n"),
            )
            .unwrap_err()
            .to_string();
            assert!(err.contains(want), "{yaml}: {err}");
        }
    }

    #[test]
    fn a_recorded_manifest_does_not_need_its_sources() {
        let d = dir_with(&[]);
        let text = "execution_id: x\ntasks:\n- msisdn: gone.json\n";
        assert!(Manifest::parse(&d.path().join("m.yaml"), text).is_err());
        let m = Manifest::parse_recorded(&d.path().join("m.yaml"), text).unwrap();
        assert_eq!(m.tasks[0].id, "gone.json");
        assert_eq!(m.text, text);
    }

    #[test]
    fn rule_batch_is_read_and_checked() {
        let d = dir_with(&["a.json"]);
        let m = |extra: &str| {
            Manifest::parse(
                &d.path().join("m.yaml"),
                &format!("execution_id: x\n{extra}tasks:\n- msisdn: a.json\n"),
            )
        };
        assert_eq!(
            m("rule_batch: 5000\n").unwrap().resources.rule_batch,
            Some(5000)
        );
        assert_eq!(m("").unwrap().resources.rule_batch, None);
        let err = m("rule_batch: 0\n").unwrap_err().to_string();
        assert!(
            err.contains("m.yaml:2:") && err.contains("rule_batch must be at least 1"),
            "{err}"
        );
    }

    #[test]
    fn unknown_key_and_wrong_type_are_located() {
        let d = dir_with(&[]);
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nmax_wrokers: 3\ntasks: []\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains("max_wrokers") && msg.contains("m.yaml:2:"),
            "{msg}"
        );
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nmax_workers: many\ntasks: []\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("m.yaml:2:"), "{err}");
    }

    #[test]
    fn every_problem_at_once_with_suggestions_and_true_columns() {
        let d = dir_with(&["a.json"]);
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nmax_wrokers: 3\nfail_on: eror\nmax_violations: many\ntasks:\n- msisdn: a.json\n  sourc: a.json\n",
        )
        .unwrap_err();
        let ManifestError::Invalid { problems, .. } = &err else {
            panic!()
        };
        let at: Vec<(u64, u64)> = problems.iter().map(|p| (p.line, p.column)).collect();
        assert_eq!(at, vec![(2, 1), (3, 10), (4, 17), (7, 3)], "{err}");
        assert!(problems[0].message.contains("did you mean `max_workers`?"));
        assert!(
            problems[1]
                .message
                .starts_with("`fail_on`: unknown variant `eror`")
        );
        assert!(problems[3].message.contains("did you mean `source`?"));
        // The location is printed once, as file:line:column.
        assert!(!err.to_string().contains("line 3 column"), "{err}");
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\ntasks:\n\t- msisdn: a.json\n",
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("m.yaml:3:1: tabs"), "{err}");
    }

    #[test]
    fn urls_and_sources() {
        let d = dir_with(&["r.json"]);
        let m = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nsequence: validate\ntasks:\n- msisdn: '5511'\n  source: https://example.invalid/r.json\n- msisdn: '5512'\n  source: r.json\n",
        )
        .unwrap();
        assert_eq!(
            m.tasks[0].source,
            Source::Url("https://example.invalid/r.json".into())
        );
        assert_eq!(m.tasks[1].id, "5512");
        assert_eq!(m.tasks[1].sequence, "validate");
    }

    #[test]
    fn reports_are_named_formats() {
        let d = dir_with(&["r.json"]);
        let m = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nreports: [markdown, junit, sarif]\ntasks:\n- msisdn: r.json\n",
        )
        .unwrap();
        assert_eq!(
            m.reports,
            vec![
                OutputFormat::Markdown,
                OutputFormat::Junit,
                OutputFormat::Sarif
            ]
        );
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            "execution_id: x\nreports: [pdf]\ntasks:\n- msisdn: r.json\n",
        )
        .unwrap_err();
        assert!(err.to_string().contains("m.yaml:2:"), "{err}");
    }
}
