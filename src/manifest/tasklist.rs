//! A manifest's tasks, inline (`tasks:`) or from a `tasks_file`: unique keys, known
//! sequences, sources resolved and checked.

use std::collections::HashMap;
use std::path::Path;

use super::{Problem, Raw, SEQUENCES, Source, Task, at, fill_template, resolve, tasks_file};
use crate::defaults;

/// Whether `name` is a step sequence pff knows.
fn known(name: &str) -> bool {
    SEQUENCES.iter().any(|(n, _)| *n == name)
}

/// The known sequences, for messages.
fn names() -> String {
    SEQUENCES
        .iter()
        .map(|(n, _)| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The tasks: unique keys, known sequences, sources that exist (when `check_sources`); from
/// `tasks:` or from `tasks_file:`.
pub(super) fn tasks(
    raw: &Raw,
    base: &Path,
    given: Option<&Path>,
    check_sources: bool,
    from_cwd: &mut usize,
    problems: &mut Vec<Problem>,
) -> Vec<Task> {
    if let Some(s) = &raw.sequence
        && !known(&s.value)
    {
        problems.push(at(
            s,
            format!("unknown sequence `{}`; known: {}", s.value, names()),
        ));
    }
    let mut make = TaskMaker {
        base,
        template: raw.source_template.as_ref().map(|t| t.value.as_str()),
        check_sources,
        from_cwd,
        seen: HashMap::new(),
        collided: Vec::new(),
        tasks: Vec::new(),
    };
    let default = raw
        .sequence
        .as_ref()
        .map_or(defaults::SEQUENCE, |s| s.value.as_str());
    // `pff run --tasks FILE`: the command line's list replaces the manifest's.
    if let Some(path) = given {
        let locate = |message| Problem {
            line: 0,
            column: 0,
            message: format!("--tasks: {message}"),
        };
        file_tasks(&mut make, path, locate, default, problems);
        return make.tasks;
    }
    if let Some(file) = &raw.tasks_file {
        if !raw.tasks.is_empty() {
            problems.push(at(
                file,
                "give the tasks inline (`tasks:`) or in a file (`tasks_file:`), not both".into(),
            ));
        }
        let path = resolve(base, &file.value);
        file_tasks(&mut make, &path, |m| at(file, m), default, problems);
        return make.tasks;
    }
    if raw.tasks.is_empty() {
        problems.push(Problem {
            line: 0,
            column: 0,
            message: "`tasks` is empty: nothing to run (list them inline or name a \
                      `tasks_file`)"
                .into(),
        });
    }
    inline_tasks(raw, &mut make, problems);
    make.tasks
}

/// The manifest's own `tasks:`.
fn inline_tasks(raw: &Raw, make: &mut TaskMaker<'_>, problems: &mut Vec<Problem>) {
    for t in &raw.tasks {
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
        let src = t.source.as_ref().or(raw.source_template.as_ref());
        let line = t.msisdn.referenced.line();
        let (dup, missing) = make.push(
            &t.msisdn.value,
            src.map(|s| s.value.as_str()),
            sequence,
            t.payload.clone(),
            line,
        );
        if let Some(first) = dup {
            problems.push(at(
                &t.msisdn,
                format!(
                    "duplicate task `{}` (first at line {first})",
                    t.msisdn.value
                ),
            ));
        }
        if let Some(message) = missing {
            problems.push(at(src.unwrap_or(&t.msisdn), message));
        }
    }
}

/// The tasks of a `tasks_file`, its problems named by file and line (the first 50, then a
/// count).
fn file_tasks(
    make: &mut TaskMaker<'_>,
    path: &Path,
    locate: impl Fn(String) -> Problem,
    sequence: &str,
    problems: &mut Vec<Problem>,
) {
    const SHOWN: usize = 50;
    let shown = path.display().to_string();
    // Each kind of problem keeps its first SHOWN (bounded memory whatever the file holds).
    let keep = |v: &mut Vec<(usize, String)>, more: &mut usize, line, message| {
        if v.len() < SHOWN {
            v.push((line, message));
        } else {
            *more += 1;
        }
    };
    let (mut task_problems, mut line_problems) = (Vec::new(), Vec::new());
    let (mut more_a, mut more_b) = (0usize, 0usize);
    let read = tasks_file::read(
        path,
        |t| {
            let line = t.line;
            let (dup, missing) = make.push(
                &t.key,
                t.source.as_deref(),
                sequence.to_string(),
                t.payload,
                line as u64,
            );
            if let Some(first) = dup {
                let m = format!("duplicate task `{}` (first at line {first})", t.key);
                keep(&mut task_problems, &mut more_a, line, m);
            }
            if let Some(m) = missing {
                keep(&mut task_problems, &mut more_a, line, m);
            }
        },
        |line, message| keep(&mut line_problems, &mut more_b, line, message),
    );
    let unreadable = read.is_err();
    if let Err(e) = read {
        problems.push(locate(format!("cannot read the tasks file {shown}: {e}")));
    }
    let mut found: Vec<(usize, String)> = task_problems.into_iter().chain(line_problems).collect();
    found.sort_by_key(|(line, _)| *line);
    let more = more_a + more_b + found.len().saturating_sub(SHOWN);
    problems.extend(
        found
            .into_iter()
            .take(SHOWN)
            .map(|(line, message)| Problem {
                line: 0,
                column: 0,
                message: format!("{shown}:{line}: {message}"),
            }),
    );
    if more > 0 {
        problems.push(Problem {
            line: 0,
            column: 0,
            message: format!("{shown}: {more} more problems"),
        });
    }
    if !unreadable && make.tasks.is_empty() && problems.is_empty() {
        problems.push(locate(format!("the tasks file {shown} holds no task")));
    }
}

/// Builds tasks: keys unique (by a hash of the key, checked exactly on a match), sources from
/// the task, else the template, else the key, resolved beside the manifest, then in the
/// working directory.
struct TaskMaker<'a> {
    base: &'a Path,
    template: Option<&'a str>,
    check_sources: bool,
    from_cwd: &'a mut usize,
    /// Key hash -> the first task with it (index in `tasks`, line); tasks whose key hash
    /// collides with another key's are in `collided`, searched in full.
    seen: HashMap<u64, (usize, u64)>,
    collided: Vec<(usize, u64)>,
    tasks: Vec<Task>,
}

impl TaskMaker<'_> {
    /// Adds a task; returns the line of an earlier task with the same key, and why its source
    /// is missing.
    fn push(
        &mut self,
        key: &str,
        source: Option<&str>,
        sequence: String,
        payload: Option<serde_json::Value>,
        line: u64,
    ) -> (Option<u64>, Option<String>) {
        let hash = {
            use std::hash::{Hash, Hasher};
            let mut h = rustc_hash::FxHasher::default();
            key.hash(&mut h);
            h.finish()
        };
        let here = (self.tasks.len(), line);
        let dup = match self.seen.get(&hash) {
            None => {
                self.seen.insert(hash, here);
                None
            }
            Some(&(i, l)) if self.tasks[i].id == key => Some(l),
            Some(_) => {
                let earlier = self.collided.iter().find(|(i, _)| self.tasks[*i].id == key);
                let dup = earlier.map(|&(_, l)| l);
                if dup.is_none() {
                    self.collided.push(here);
                }
                dup
            }
        };
        let spec = source.or(self.template).unwrap_or(key);
        let filled = fill_template(spec, key);
        let mut missing = None;
        let source = if filled.starts_with("http://") || filled.starts_with("https://") {
            Source::Url(filled)
        } else {
            let p = resolve(self.base, &filled);
            let here = Path::new(&filled);
            if !self.check_sources || p.is_file() {
                Source::File(p)
            } else if here.is_file() {
                // The predecessor resolved task paths against the working directory.
                *self.from_cwd += 1;
                Source::File(here.to_path_buf())
            } else {
                missing = Some(format!(
                    "task source {spec} exists neither beside the manifest ({}) nor in the \
                     working directory ({})",
                    p.display(),
                    here.display()
                ));
                Source::File(p)
            }
        };
        self.tasks.push(Task {
            id: key.to_string(),
            sequence,
            source,
            payload,
        });
        (dup, missing)
    }
}
