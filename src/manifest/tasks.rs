//! A manifest's tasks as a run walks them: inline tasks are held (YAML gives them whole);
//! the tasks of a `tasks_file` are never held — every pass of a run (prepare, read, finalize,
//! merge) reads the file again, line by line, so a run over a million keys holds one line at
//! a time.

use std::borrow::Cow;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::tasks_file::{FileTask, TaskLines};
use super::{Source, Task, fill_template, resolve};

/// Why the tasks could not be walked again.
#[derive(Debug, thiserror::Error)]
pub enum TasksError {
    #[error("cannot read the tasks file {path}")]
    /// The tasks file could not be read.
    Io {
        /// The tasks file.
        path: String,
        #[source]
        /// The operating system's error.
        source: std::io::Error,
    },
    #[error(
        "the tasks file {path} changed while pff was using it ({detail}); keep it as it is \
         until the run ends, then run again (`--resume` keeps the tasks already done)"
    )]
    /// The tasks file changed between two passes of a run.
    Changed {
        /// The tasks file.
        path: String,
        /// What differs.
        detail: String,
    },
}

/// A manifest's tasks, in manifest order.
#[derive(Debug, Clone)]
pub enum TaskList {
    /// Given in the manifest itself (`tasks:`).
    Inline(Vec<Task>),
    /// A `tasks_file` (or `pff run --tasks`), read again on every pass.
    File(FileTasks),
}

/// A tasks file as the manifest was checked with it: its tasks are read again, in order,
/// with their sources resolved as they were then.
#[derive(Debug, Clone)]
pub struct FileTasks {
    pub(super) path: PathBuf,
    /// The manifest's folder (sources resolve against it, then the working directory).
    pub(super) base: PathBuf,
    pub(super) template: Option<String>,
    pub(super) sequence: String,
    /// Tasks in the file.
    pub(super) count: usize,
    /// The file's size and modification time when it was checked.
    pub(super) stamp: (u64, Option<SystemTime>),
}

impl TaskList {
    /// How each task's key is read: `inline` or the tasks file's rule (`--dry-run`).
    pub fn key_rule(&self) -> String {
        match self {
            TaskList::Inline(_) => "inline tasks (msisdn:)".to_string(),
            TaskList::File(f) => format!(
                "tasks file {}: {}",
                f.path.display(),
                super::tasks_file::key_rule(&f.path)
            ),
        }
    }

    /// How many tasks.
    pub fn len(&self) -> usize {
        match self {
            TaskList::Inline(v) => v.len(),
            TaskList::File(f) => f.count,
        }
    }

    /// Whether the list holds no task.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each task with its manifest position, in order. A tasks file is opened again; a file
    /// changed since the manifest was checked is an error (at once, or at the line that shows
    /// it).
    pub fn iter(&self) -> Result<Tasks<'_>, TasksError> {
        Ok(Tasks {
            resolve: true,
            wanted: None,
            inner: match self {
                TaskList::Inline(v) => Inner::Inline(v.iter().enumerate()),
                TaskList::File(f) => Inner::File(f, f.open()?, 0),
            },
        })
    }

    /// As [`Self::iter`], only the tasks at the positions `wanted` says (a resume's pending
    /// ones): the others' sources are not looked for.
    pub fn iter_where<'a>(
        &'a self,
        wanted: &'a (dyn Fn(usize) -> bool + Sync),
    ) -> Result<Tasks<'a>, TasksError> {
        let mut tasks = self.iter()?;
        tasks.wanted = Some(wanted);
        Ok(tasks)
    }

    /// Each task's key with its manifest position, in order (as [`Self::iter`], without
    /// looking for the sources).
    pub fn keys(
        &self,
    ) -> Result<impl Iterator<Item = Result<(usize, Cow<'_, str>), TasksError>>, TasksError> {
        let mut tasks = self.iter()?;
        tasks.resolve = false;
        Ok(tasks.map(|t| {
            t.map(|(i, t)| {
                let key = match t {
                    Cow::Borrowed(t) => Cow::Borrowed(t.id.as_str()),
                    Cow::Owned(t) => Cow::Owned(t.id),
                };
                (i, key)
            })
        }))
    }
}

impl FileTasks {
    fn shown(&self) -> String {
        self.path.display().to_string()
    }

    fn changed(&self, detail: impl Into<String>) -> TasksError {
        TasksError::Changed {
            path: self.shown(),
            detail: detail.into(),
        }
    }

    fn open(&self) -> Result<TaskLines, TasksError> {
        let io = |source| TasksError::Io {
            path: self.shown(),
            source,
        };
        let file = File::open(&self.path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if (meta.len(), meta.modified().ok()) != self.stamp {
            return Err(self.changed("its size or modification time differs"));
        }
        Ok(TaskLines::new(&self.path, file))
    }
}

/// The iterator of [`TaskList::iter`].
pub struct Tasks<'a> {
    /// Look for each task's source (else the key alone is right).
    resolve: bool,
    /// Only the tasks at these positions (their sources alone are looked for).
    wanted: Option<&'a (dyn Fn(usize) -> bool + Sync)>,
    inner: Inner<'a>,
}

enum Inner<'a> {
    Inline(std::iter::Enumerate<std::slice::Iter<'a, Task>>),
    /// The list, its lines, the tasks given so far.
    File(&'a FileTasks, TaskLines, usize),
}

impl<'a> Iterator for Tasks<'a> {
    type Item = Result<(usize, Cow<'a, Task>), TasksError>;

    fn next(&mut self) -> Option<Self::Item> {
        let wanted = self.wanted;
        let wanted = |i| wanted.is_none_or(|w| w(i));
        loop {
            match &mut self.inner {
                Inner::Inline(it) => {
                    let (i, t) = it.next()?;
                    if wanted(i) {
                        return Some(Ok((i, Cow::Borrowed(t))));
                    }
                }
                Inner::File(f, lines, given) => match f.next_task(lines, given)? {
                    Err(e) => return Some(Err(e)),
                    Ok((i, t)) if wanted(i) => {
                        return Some(Ok((i, Cow::Owned(f.task(t, self.resolve)))));
                    }
                    Ok(_) => {}
                },
            }
        }
    }
}

impl FileTasks {
    /// The next task of the file and its position (`given` so far); an error when the file no
    /// longer holds what it held when it was checked.
    fn next_task(
        &self,
        lines: &mut TaskLines,
        given: &mut usize,
    ) -> Option<Result<(usize, FileTask), TasksError>> {
        let line = match lines.next_line() {
            Ok(l) => l,
            Err(source) => {
                return Some(Err(TasksError::Io {
                    path: self.shown(),
                    source,
                }));
            }
        };
        match line {
            None if *given == self.count => None,
            None => Some(Err(
                self.changed(format!("it holds {given} tasks, it held {}", self.count))
            )),
            Some(_) if *given == self.count => Some(Err(
                self.changed(format!("it holds more than {} tasks", self.count))
            )),
            Some(Err((line, _))) => Some(Err(self.changed(format!("line {line} is bad")))),
            Some(Ok(t)) => {
                *given += 1;
                Some(Ok((*given - 1, t)))
            }
        }
    }

    /// A line's task, its source looked for when `resolve` (else left empty).
    fn task(&self, t: FileTask, resolve: bool) -> Task {
        let source = if resolve {
            locate(
                &self.base,
                t.source.as_deref(),
                self.template.as_deref(),
                &t.key,
            )
            .source
        } else {
            Source::File(PathBuf::new())
        };
        Task {
            id: t.key,
            sequence: self.sequence.clone(),
            source,
            payload: t.payload,
        }
    }
}

/// Where a task's record is, and whether it was found there.
pub(super) struct Located {
    pub source: Source,
    /// Found in the working directory rather than beside the manifest.
    pub from_cwd: bool,
    /// Why the source is missing (a file that exists neither beside the manifest nor in the
    /// working directory).
    pub missing: Option<String>,
}

/// A task's source: the task's own, else the template, else the key; `{msisdn}` filled; a
/// URL as it is, a file beside the manifest, else in the working directory (the predecessor
/// resolved task paths against it), else missing.
pub(super) fn locate(base: &Path, own: Option<&str>, template: Option<&str>, key: &str) -> Located {
    let spec = own.or(template).unwrap_or(key);
    // `.` and `..` in place of `{msisdn}` would name another path (a URL's dot segments are
    // resolved away, a file's climb the folder): never a task's own source.
    if spec.contains("{msisdn}") && matches!(key, "." | "..") {
        return Located {
            source: Source::File(PathBuf::from(key)),
            from_cwd: false,
            missing: Some(format!(
                "task key `{key}` would be a dot segment in {spec} and name another path; a \
                 task key is never `.` or `..`"
            )),
        };
    }
    let filled = fill_template(spec, key);
    if filled.starts_with("http://") || filled.starts_with("https://") {
        return Located {
            source: Source::Url(filled),
            from_cwd: false,
            missing: None,
        };
    }
    let beside = resolve(base, &filled);
    let here = Path::new(&filled);
    if beside.is_file() {
        Located {
            source: Source::File(beside),
            from_cwd: false,
            missing: None,
        }
    } else if here.is_file() {
        Located {
            source: Source::File(here.to_path_buf()),
            from_cwd: true,
            missing: None,
        }
    } else {
        let folder = [&beside, &here.to_path_buf()]
            .into_iter()
            .find(|p| p.is_dir())
            .cloned();
        let missing = match folder {
            Some(dir) => format!(
                "task source {spec} is a folder ({}), not a file: a task is one file of records \
                 (.json or .jsonl); list the folder's files as tasks (one each, or a \
                 `tasks_file`)",
                dir.display()
            ),
            None => format!(
                "task source {spec} exists neither beside the manifest ({}) nor in the working \
                 directory ({})",
                beside.display(),
                here.display()
            ),
        };
        Located {
            source: Source::File(beside),
            from_cwd: false,
            missing: Some(missing),
        }
    }
}
