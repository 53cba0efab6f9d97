//! Dated run folders: a manifest run again each night writes each run into a folder of its own,
//! `<parent>/<UTC time>` (`2026-12-03T074714Z`, then `-2`, `-3` … for runs started in the same
//! second), and `--baseline last` names the newest complete one before tonight's.
//!
//! A folder is *complete* when its `summary.json` says so: the run checked every task and
//! wrote its final outputs. An interrupted run is not, and is what `--resume` continues.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::store::ledger::EXECUTION_FILE;

/// The name of a run started at `secs` after the epoch (UTC), as `YYYY-mm-ddTHHMMSSZ`.
pub fn stamp(secs: u64) -> String {
    let c = crate::files::Civil::of(secs);
    format!(
        "{:04}-{:02}-{:02}T{:02}{:02}{:02}Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The stamp and sequence of a dated folder's name (`…Z` is 1, `…Z-2` is 2), or none for a
/// name that is not one.
fn parse(name: &str) -> Option<(&str, u32)> {
    let (stamp, n) = match name.split_once("Z-") {
        Some((s, n)) => (s, n.parse::<u32>().ok().filter(|n| *n >= 2)?),
        None => (name.strip_suffix('Z')?, 1),
    };
    let b = stamp.as_bytes();
    let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
    let shaped = b.len() == 17
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && b[10] == b'T'
        && digits(11..17);
    shaped.then_some((stamp, n))
}

/// Creates a new dated folder under `parent` (made if missing) for a run starting now, and
/// returns it. Never an existing folder: a name taken (two runs in the same second) goes on
/// to the next sequence number.
pub fn create(parent: &Path) -> io::Result<PathBuf> {
    if parent.join(EXECUTION_FILE).exists() {
        return Err(io::Error::other(format!(
            "{} holds a run of its own (execution.json), written before runs were dated; pass \
             --output {} to resume or replace it, or move it away",
            parent.display(),
            parent.display()
        )));
    }
    fs::create_dir_all(parent)?;
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = stamp(secs);
    for n in 1..=1000u32 {
        let name = if n == 1 {
            base.clone()
        } else {
            format!("{base}-{n}")
        };
        let dir = parent.join(name);
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other(format!(
        "1000 runs already started at {base} under {}",
        parent.display()
    )))
}

/// The dated run folders under `parent`, oldest first (none when `parent` does not exist).
pub fn list(parent: &Path) -> io::Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(parent) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let mut runs = Vec::new();
    for e in entries {
        let e = e?;
        let name = e.file_name().to_string_lossy().into_owned();
        if let Some((stamp, n)) = parse(&name)
            && e.file_type()?.is_dir()
        {
            runs.push(((stamp.to_string(), n), e.path()));
        }
    }
    runs.sort();
    Ok(runs.into_iter().map(|(_, p)| p).collect())
}

/// Whether the run in `dir` checked every task and wrote its final outputs.
pub fn is_complete(dir: &Path) -> bool {
    let Ok(text) = crate::files::read_bounded(&dir.join("summary.json"), 1 << 20) else {
        return false;
    };
    serde_json::from_slice::<serde_json::Value>(&text)
        .is_ok_and(|v| v["complete"] == serde_json::Value::Bool(true))
}

/// The newest complete run under `parent` other than `except` (tonight's own folder).
pub fn newest_complete(parent: &Path, except: &Path) -> io::Result<Option<PathBuf>> {
    Ok(list(parent)?
        .into_iter()
        .rev()
        .find(|p| p != except && is_complete(p)))
}

/// Why there is no dated run to resume.
#[derive(Debug, thiserror::Error)]
pub enum ResumeError {
    #[error("cannot list {0}")]
    List(String, #[source] io::Error),
    #[error("there is no run under {0} to resume; run without --resume to start one")]
    None(String),
    #[error(
        "the newest run under {0} ({1}) is complete: nothing to resume; run without --resume \
         for a new one"
    )]
    Complete(String, String),
}

/// The run `--resume` continues under `parent`: the newest, when it is not complete.
pub fn to_resume(parent: &Path) -> Result<PathBuf, ResumeError> {
    let shown = || parent.display().to_string();
    let runs = list(parent).map_err(|e| ResumeError::List(shown(), e))?;
    match runs.last() {
        None => Err(ResumeError::None(shown())),
        Some(p) if is_complete(p) => Err(ResumeError::Complete(shown(), p.display().to_string())),
        Some(p) => Ok(p.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_utc_and_sortable() {
        assert_eq!(stamp(0), "1970-01-01T000000Z");
        assert_eq!(stamp(1_796_284_034), "2026-12-03T074714Z");
        assert_eq!(parse("2026-12-03T074714Z"), Some(("2026-12-03T074714", 1)));
        assert_eq!(
            parse("2026-12-03T074714Z-12"),
            Some(("2026-12-03T074714", 12))
        );
        for bad in [
            "2026-12-03T074714",
            "x026-12-03T074714Z",
            "2026-12-03T074714Z-1",
            "tasks",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn runs_are_listed_in_order_and_judged_complete_by_their_summary() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path();
        for name in [
            "2026-12-02T010000Z",
            "2026-12-03T010000Z-10",
            "2026-12-03T010000Z",
            "2026-12-03T010000Z-2",
            "notes",
        ] {
            fs::create_dir(p.join(name)).unwrap();
        }
        fs::write(p.join("2026-12-04T010000Z"), "a file, not a run").unwrap();
        let names: Vec<String> = list(p)
            .unwrap()
            .iter()
            .map(|x| x.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "2026-12-02T010000Z",
                "2026-12-03T010000Z",
                "2026-12-03T010000Z-2",
                "2026-12-03T010000Z-10"
            ]
        );
        let done = |n: &str, complete: bool| {
            fs::write(
                p.join(n).join("summary.json"),
                format!(r#"{{"complete":{complete}}}"#),
            )
            .unwrap()
        };
        done("2026-12-02T010000Z", true);
        done("2026-12-03T010000Z", false);
        let newest = p.join("2026-12-03T010000Z-10");
        assert_eq!(
            newest_complete(p, &newest).unwrap(),
            Some(p.join("2026-12-02T010000Z"))
        );
        assert_eq!(to_resume(p).unwrap(), newest);
        done("2026-12-03T010000Z-10", true);
        assert!(
            to_resume(p)
                .unwrap_err()
                .to_string()
                .contains("nothing to resume")
        );
        assert_eq!(newest_complete(p, &p.join("other")).unwrap(), Some(newest));
    }

    #[test]
    fn a_new_run_never_takes_an_existing_folder() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("out/exec");
        let a = create(&parent).unwrap();
        let b = create(&parent).unwrap();
        assert_ne!(a, b);
        assert_eq!(list(&parent).unwrap().len(), 2);
        fs::write(parent.join(EXECUTION_FILE), "{}").unwrap();
        assert!(
            create(&parent)
                .unwrap_err()
                .to_string()
                .contains("--output")
        );
    }
}
