//! The manifest's text below the YAML parser: unknown keys with suggestions, every problem
//! collected by setting offending lines aside, `!file` payloads, the default execution id.

use std::path::Path;

use super::{ManifestError, Problem, Raw, Task, resolve};

/// The manifest's YAML as its raw keys: every unknown key and every value of the wrong type is
/// collected (the offending lines set aside, the text parsed again) before it is refused.
pub(super) fn parse_raw(shown: &str, text: &str) -> Result<Raw, ManifestError> {
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
        match serde_saphyr::from_str_with_options::<Raw>(&attempt, options(text.len())) {
            Ok(raw) if problems.is_empty() => break raw,
            Ok(_) => break return_invalid(shown, problems)?,
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
                    break return_invalid(shown, problems)?;
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
                    break return_invalid(shown, problems)?;
                }
            }
        }
    };
    Ok(raw)
}

/// The YAML parser's options for a manifest of `len` bytes: its budget (made against hostile
/// input) grows with the text, so that a nightly list of hundreds of thousands of inline tasks
/// parses — a node or an event takes at least a byte of the text the user gave.
fn options(len: usize) -> serde_saphyr::Options {
    let mut budget = serde_saphyr::Budget::default();
    let floor = budget.max_events.max(budget.max_nodes);
    budget.max_events = budget.max_events.max(len.saturating_add(floor));
    budget.max_nodes = budget.max_nodes.max(len.saturating_add(floor));
    budget.max_total_scalar_bytes = budget.max_total_scalar_bytes.max(len.saturating_mul(2));
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    options
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
    "mapping",
    "name_key",
    "max_violations",
    "reports",
    "fetch_timeout_secs",
    "fetch_max_bytes",
    "fetch_retries",
    "fetch_redirect_hosts",
    "source_template",
    "headers",
    "rate_limit",
    "ca_bundle",
    "baseline",
    "fail_on_new",
    "dated",
    "id_triples",
    "shapes",
    "one_graph",
    "max_rule_work",
    "task_time_budget_secs",
    "rule_batch",
    "tasks",
    "tasks_file",
];
const TASK_KEYS: &[&str] = &["msisdn", "sequence", "source", "payload"];

/// Every unknown or repeated key of a manifest (top-level keys at column 1, task keys in the
/// `tasks` list), each unknown one with the known key it was probably meant to be.
fn unknown_keys(text: &str) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut in_tasks = false;
    // Where each key of the current map was first given: the top level, and the task.
    let mut top_seen: std::collections::HashMap<String, usize> = Default::default();
    let mut task_seen: std::collections::HashMap<String, usize> = Default::default();
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
            if line.starts_with("- ") {
                task_seen.clear();
            }
            // A task's own keys sit at column 3; deeper lines are values (a payload).
            let Some(k) = key_at(line, 2) else {
                continue;
            };
            (k, 2, TASK_KEYS)
        } else {
            continue;
        };
        let seen = if indent == 0 {
            &mut top_seen
        } else {
            &mut task_seen
        };
        if let Some(first) = seen.get(&key) {
            problems.push(Problem {
                line: n as u64 + 1,
                column: indent as u64 + 1,
                message: format!(
                    "`{key}` is given twice{} (first at line {first}); keep one",
                    if indent == 0 { "" } else { " in one task" }
                ),
            });
            continue;
        }
        seen.insert(key.clone(), n + 1);
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

/// `payload: !file PATH` (the predecessor's way to attach a file): the task's payload is the
/// file's content — its JSON when it parses as JSON, else its text. The file is looked for
/// beside the manifest, then in the working directory. (The YAML parser keeps only the tag's
/// value, the path; the tag is found here, on the task's own `payload:` line.)
pub(super) fn read_file_payloads(
    text: &str,
    base: &Path,
    tasks: &mut [Task],
    problems: &mut Vec<Problem>,
) {
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
            .find_map(|p| crate::files::read_bounded(p, crate::defaults::MAX_SETTINGS_FILE).ok());
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
pub(super) fn generated_execution_id() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let c = crate::files::Civil::of(secs);
    format!(
        "exec-{:04}{:02}{:02}{:02}{:02}",
        c.year, c.month, c.day, c.hour, c.minute
    )
}
