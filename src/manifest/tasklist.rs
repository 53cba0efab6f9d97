//! A manifest's tasks, inline (`tasks:`) or from a `tasks_file`: unique keys, known
//! sequences, sources resolved and checked.

use std::collections::HashMap;
use std::path::Path;

use super::seen::{Bloom, Suspects};
use super::tasks::{FileTasks, TaskList, locate};
use super::tasks_file::TaskLines;
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
) -> TaskList {
    if let Some(s) = &raw.sequence
        && !known(&s.value)
    {
        problems.push(at(
            s,
            format!("unknown sequence `{}`; known: {}", s.value, names()),
        ));
    }
    let template = raw.source_template.as_ref().map(|t| t.value.as_str());
    let sequence = raw
        .sequence
        .as_ref()
        .map_or(defaults::SEQUENCE, |s| s.value.as_str());
    let check = FileCheck {
        base,
        template,
        sequence,
        sources: check_sources,
        from_cwd,
    };
    let none = || TaskList::Inline(Vec::new());
    // `pff run --tasks FILE`: the command line's list replaces the manifest's.
    if let Some(path) = given {
        let locate = |message| Problem {
            line: 0,
            column: 0,
            message: format!("--tasks: {message}"),
        };
        return file_tasks(check, path, locate, problems).map_or_else(none, TaskList::File);
    }
    if let Some(file) = &raw.tasks_file {
        if !raw.tasks.is_empty() {
            problems.push(at(
                file,
                "give the tasks inline (`tasks:`) or in a file (`tasks_file:`), not both".into(),
            ));
        }
        let path = resolve(base, &file.value);
        return file_tasks(check, &path, |m| at(file, m), problems)
            .map_or_else(none, TaskList::File);
    }
    let mut make = TaskMaker {
        base,
        template,
        check_sources,
        from_cwd: check.from_cwd,
        seen: HashMap::new(),
        collided: Vec::new(),
        tasks: Vec::new(),
    };
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
    TaskList::Inline(make.tasks)
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

/// Problems of a tasks file, kept in bounded memory: the first [`SHOWN`] of each kind, in
/// file order, and a count of the rest.
#[derive(Default)]
struct FileProblems {
    /// Bad lines, missing sources, duplicate keys: each in file order.
    kinds: [Vec<(usize, String)>; 3],
    more: usize,
}

const SHOWN: usize = 50;

impl FileProblems {
    fn add(&mut self, kind: usize, line: usize, message: String) {
        if self.kinds[kind].len() < SHOWN {
            self.kinds[kind].push((line, message));
        } else {
            self.more += 1;
        }
    }

    /// The first [`SHOWN`] problems by line, named `file:line`, then how many more.
    fn into_problems(self, shown: &str, problems: &mut Vec<Problem>) {
        let mut found: Vec<(usize, String)> = self.kinds.into_iter().flatten().collect();
        found.sort_by_key(|(line, _)| *line);
        let more = self.more + found.len().saturating_sub(SHOWN);
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
    }
}

/// Lines in a file (an upper bound on its tasks), counted without holding it.
fn count_lines(path: &Path) -> std::io::Result<usize> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut n = 1;
    loop {
        let got = f.read(&mut buf)?;
        if got == 0 {
            return Ok(n);
        }
        n += buf[..got].iter().filter(|&&b| b == b'\n').count();
    }
}

/// Checks a `tasks_file` without holding its tasks: every line read, sources looked for
/// (when `check_sources`), keys unique (a Bloom filter, then a second pass over the suspected
/// keys); problems named by file and line (the first 50, then a count). The tasks are read
/// again by each pass of a run ([`TaskList::File`]).
fn file_tasks(
    mut check: FileCheck<'_>,
    path: &Path,
    locate_problem: impl Fn(String) -> Problem,
    problems: &mut Vec<Problem>,
) -> Option<FileTasks> {
    let shown = path.display().to_string();
    let unreadable =
        |e: std::io::Error| locate_problem(format!("cannot read the tasks file {shown}: {e}"));
    let stamp = match std::fs::metadata(path) {
        // A pipe, a device or standard input cannot be read again, and every pass of a run
        // reads the list again: refused with the fix.
        Ok(m) if !m.is_file() => {
            problems.push(locate_problem(format!(
                "the tasks file {shown} is not a regular file (a pipe, a device or standard \
                 input): pff reads the list once per pass, so save it to a file first \
                 (`cat ... > tonight.txt`, then --tasks tonight.txt)"
            )));
            return None;
        }
        Ok(m) => (m.len(), m.modified().ok()),
        Err(e) => {
            problems.push(unreadable(e));
            return None;
        }
    };
    let mut found = FileProblems::default();
    let mut suspects = Suspects::default();
    let first_pass = first_pass(path, &mut check, &mut found, &mut suspects);
    let mut count = match first_pass {
        Ok(count) => count,
        Err(e) => {
            problems.push(unreadable(e));
            return None;
        }
    };
    // The suspected keys again, in file order: the first line of each, and its repeats.
    if !suspects.is_empty() {
        let second_pass = tasks_file::read(
            path,
            |t| {
                if let Some(first) = suspects.repeat(&t.key, t.line) {
                    let m = format!("duplicate task `{}` (first at line {first})", t.key);
                    found.add(2, t.line, m);
                }
            },
            |_, _| {},
        );
        if let Err(e) = second_pass {
            problems.push(unreadable(e));
            count = 0;
        }
    }
    let before = problems.len();
    found.into_problems(&shown, problems);
    if count == 0 && problems.len() == before {
        problems.push(locate_problem(format!(
            "the tasks file {shown} holds no task"
        )));
    }
    Some(FileTasks {
        path: path.to_path_buf(),
        base: check.base.to_path_buf(),
        template: check.template.map(str::to_string),
        sequence: check.sequence.to_string(),
        count,
        stamp,
    })
}

/// The first pass over a tasks file: every line read, keys seen twice by the Bloom filter
/// kept as suspects, sources looked for (when asked); the number of tasks.
fn first_pass(
    path: &Path,
    check: &mut FileCheck<'_>,
    found: &mut FileProblems,
    suspects: &mut Suspects,
) -> std::io::Result<usize> {
    let lines = count_lines(path)?;
    let mut bloom = Bloom::new(lines);
    let mut count = 0usize;
    let mut read = TaskLines::new(path, std::fs::File::open(path)?);
    while let Some(line) = read.next_line()? {
        let t = match line {
            Ok(t) => t,
            Err((line, message)) => {
                found.add(0, line, message);
                continue;
            }
        };
        count += 1;
        if bloom.insert(&t.key) {
            suspects.add(&t.key);
        }
        if check.sources {
            let at = locate(check.base, t.source.as_deref(), check.template, &t.key);
            *check.from_cwd += usize::from(at.from_cwd);
            if let Some(m) = at.missing {
                found.add(1, t.line, m);
            }
        }
    }
    Ok(count)
}

/// What checking a tasks file needs from the manifest.
struct FileCheck<'a> {
    base: &'a Path,
    template: Option<&'a str>,
    sequence: &'a str,
    /// Look for each task's source.
    sources: bool,
    from_cwd: &'a mut usize,
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
        let (source, missing) = if self.check_sources {
            let at = locate(self.base, source, self.template, key);
            *self.from_cwd += usize::from(at.from_cwd);
            (at.source, at.missing)
        } else {
            let filled = fill_template(source.or(self.template).unwrap_or(key), key);
            let source = if filled.starts_with("http://") || filled.starts_with("https://") {
                Source::Url(filled)
            } else {
                Source::File(resolve(self.base, &filled))
            };
            (source, None)
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
