//! The output folder of an execution: what pff may create, trust, replace and remove in it.
//!
//! The rules, in one place:
//! - **Lock.** A run or a merge holds an exclusive lock on `<out>/.pff.lock` (`flock`, released
//!   by the kernel when the process ends, so the lock of a killed run is stale by construction
//!   and simply taken over). The file says who holds it (pid, host, start time, command).
//! - **Temporary files** are named `.pff-tmp-<pid>-<n>-<final name>.part` beside their final name and
//!   created with `O_EXCL | O_NOFOLLOW`. Only names of that form whose process is gone are ever
//!   removed as leftovers (`scratch::remove_stale`); `notes.tmp` or `page.tmpl` are the user's.
//! - **Final outputs** (`summary.json`, `results.csv`, reports, ...) are replaced or removed only
//!   when `execution.json` lists them as written by an execution (`outputs`); a file of the same
//!   name that pff did not write makes the run refuse to start.
//! - **Task files** prove their origin by their content (execution id, rules digest, manifest
//!   position and task id): see [`super::taskfile`].
//! - **Symlinks** inside the folder are never followed: `tasks/` must be a real folder, and
//!   every file pff opens there is opened with `O_NOFOLLOW`.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::{StoreError, write_err};

/// The lock file's name.
pub const LOCK_FILE: &str = ".pff.lock";
/// The prefix of pff's temporary files.
pub const TMP_PREFIX: &str = ".pff-tmp-";

/// An output folder, locked by this process for as long as the value lives.
#[derive(Debug)]
pub struct OutputFolder {
    path: PathBuf,
    tasks: PathBuf,
    _lock: File,
}

impl OutputFolder {
    /// Creates `path` (and `tasks/` in it) when missing and takes its lock. Refuses a folder
    /// locked by a live process (naming it), and a `tasks` that is not a real folder.
    pub fn lock(path: &Path, command: &str) -> Result<OutputFolder, StoreError> {
        let out_err = write_err(path);
        fs::create_dir_all(path).map_err(out_err)?;
        let lock_path = path.join(LOCK_FILE);
        let mut lock = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&lock_path)
            .map_err(write_err(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = lock.read_to_string(&mut holder);
                return Err(StoreError::Locked {
                    path: path.display().to_string(),
                    holder: holder.trim().replace('\n', ", "),
                });
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(write_err(&lock_path)(e));
            }
        }
        // Ours now: say who holds it (a stale holder's lines are replaced).
        let host = fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let who = format!(
            "pid {}\nhost {}\nstarted {started} (Unix time)\ncommand {command}\n",
            std::process::id(),
            host.trim()
        );
        lock.set_len(0)
            .and_then(|()| lock.write_all(who.as_bytes()))
            .map_err(write_err(&lock_path))?;
        let tasks = path.join("tasks");
        match fs::symlink_metadata(&tasks) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(StoreError::Unsafe {
                    path: tasks.display().to_string(),
                    reason: "is not a folder (pff does not follow symbolic links in its output \
                             folder)"
                        .into(),
                });
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                fs::create_dir(&tasks).map_err(write_err(&tasks))?;
            }
            Err(e) => return Err(write_err(&tasks)(e)),
        }
        let folder = OutputFolder {
            path: path.to_path_buf(),
            tasks,
            _lock: lock,
        };
        // Leftovers of killed runs: only pff's temporary names, only of dead processes.
        for dir in [folder.path(), folder.tasks()] {
            crate::scratch::remove_stale(dir, TMP_PREFIX);
        }
        Ok(folder)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn tasks(&self) -> &Path {
        &self.tasks
    }
}

/// A fresh temporary name beside `path`: `.pff-tmp-<pid>-<n>-<file name>.part` (hidden, and
/// never ending in the final name's extension, so that no `*.json` glob picks it up).
pub fn temp_path(path: &Path) -> PathBuf {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    path.with_file_name(format!(
        "{TMP_PREFIX}{}-{n}-{name}.part",
        std::process::id()
    ))
}

/// Creates a new file (never an existing one, never through a symbolic link).
pub fn create_new(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens a file for reading, refusing a symbolic link (`ELOOP`).
pub fn open_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Opens (creating) a file for appending, refusing a symbolic link.
pub fn append_nofollow(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
}

/// Reads a whole file without following a symbolic link.
pub fn read_nofollow(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = open_nofollow(path)?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    Ok(buf)
}

/// A regular file (not a link, not a folder) at `path`.
pub fn is_plain_file(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_file())
}

/// Whether anything (a file, a folder, a dangling link) is at `path`.
pub fn exists_nofollow(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_and_names_the_holder() {
        let dir = tempfile::TempDir::new().unwrap();
        let first = OutputFolder::lock(dir.path(), "pff run m.yaml").unwrap();
        let err = OutputFolder::lock(dir.path(), "pff run again").unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(&format!("pid {}", std::process::id())) && msg.contains("pff run m.yaml"),
            "{msg}"
        );
        drop(first);
        OutputFolder::lock(dir.path(), "pff run again").unwrap();
    }

    #[test]
    fn temporary_names_are_pffs_own_and_unique() {
        let a = temp_path(Path::new("out/summary.json"));
        let b = temp_path(Path::new("out/summary.json"));
        assert_ne!(a, b);
        let name = a.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with(&format!("{TMP_PREFIX}{}-", std::process::id()))
                && name.ends_with("-summary.json.part"),
            "{name}"
        );
    }

    #[test]
    fn links_are_not_followed() {
        let dir = tempfile::TempDir::new().unwrap();
        let target = dir.path().join("secret");
        fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(open_nofollow(&link).is_err());
        assert!(append_nofollow(&link).is_err());
        assert!(create_new(&link).is_err());
        assert!(!is_plain_file(&link) && exists_nofollow(&link));
        assert_eq!(fs::read(&target).unwrap(), b"x");
    }
}
