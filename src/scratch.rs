//! Temporary files and folders pff keeps while it works (rule stores, report spools), named
//! `<prefix><pid>-<n>` after the process that owns them, so that what a killed run left behind
//! can be told from what a running one uses, and removed.

use std::fs;
use std::path::Path;

/// A new folder `<prefix><pid>-<n>` in `parent` (made exclusively: never one that exists), after
/// the leftovers of dead processes under `prefix` were removed.
pub fn new_dir(parent: &Path, prefix: &str) -> std::io::Result<std::path::PathBuf> {
    remove_stale(parent, prefix);
    let pid = std::process::id();
    (0..1000)
        .map(|k| parent.join(format!("{prefix}{pid}-{k}")))
        .find(|d| fs::create_dir(d).is_ok())
        .ok_or_else(|| {
            std::io::Error::other(format!("cannot make a folder in {}", parent.display()))
        })
}

/// Removes the entries of `dir` named `<prefix><pid>-<anything>` whose process no longer runs.
/// Does nothing where process ids cannot be checked (no `/proc`).
pub fn remove_stale(dir: &Path, prefix: &str) {
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        let p = e.path();
        let _ = if p.is_dir() {
            fs::remove_dir_all(&p)
        } else {
            fs::remove_file(&p)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_leftovers_of_dead_processes_go() {
        let dir = tempfile::TempDir::new().unwrap();
        // A pid above the kernel's maximum (4194304) never runs.
        let dead = dir.path().join(".pff-x-999999999-0");
        let mine = dir.path().join(format!(".pff-x-{}-0", std::process::id()));
        let other = dir.path().join("keep-999999999-0");
        fs::create_dir(&dead).unwrap();
        fs::write(dead.join("data"), b"x").unwrap();
        fs::write(&mine, b"x").unwrap();
        fs::write(&other, b"x").unwrap();
        remove_stale(dir.path(), ".pff-x-");
        assert!(!dead.exists());
        assert!(mine.exists() && other.exists());
    }
}
