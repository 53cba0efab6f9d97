//! `--baseline DIR`: tonight's findings against an earlier execution's — each one `new` or
//! `known` by a stable fingerprint (task key, record index, missing triple), and the earlier
//! findings of tonight's tasks that are gone (`fixed`, listed in `fixed.jsonl`).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use rustc_hash::FxHashMap;
use serde::Serialize;

use super::RunError;
use super::shard::fnv1a;
use super::spec::ExecutionSpec;
use super::store::folder;
use super::store::ledger::read_marker;
use super::store::taskfile::{TaskFile, is_task_file_name};
use crate::report::{BaselineCounts, BaselineState, Finding, RecordReport, Severity, Triple};

/// A finding of the baseline.
#[derive(Debug, Serialize)]
struct Earlier {
    task: String,
    index: usize,
    missing: Triple,
    /// A culprit finding: the value it blamed (its fingerprint).
    #[serde(skip_serializing_if = "Option::is_none")]
    culprit: Option<Triple>,
    severity: Severity,
    #[serde(skip)]
    seen: bool,
}

/// The findings of an earlier execution, by fingerprint.
#[derive(Debug)]
pub struct Baseline {
    findings: FxHashMap<u64, Earlier>,
    /// The tasks with earlier findings, and whether tonight's run checked each without an
    /// error (only those can have fixed findings). Grows with the baseline, not the run.
    checked: FxHashMap<String, bool>,
    counts: BaselineCounts,
    /// Task files that could not be read (file, why).
    skipped: Vec<(String, String)>,
}

/// A finding's fingerprint: its task, its record's index, the missing triple.
fn fingerprint(task: &str, index: usize, m: &Triple) -> u64 {
    let key = format!(
        "{task}\0{index}\0{}\0{}\0{}",
        m.subject, m.relation, m.object
    );
    fnv1a(key.as_bytes())
}

/// The fingerprint of a finding: of its culprit (the value it blames) when it is one, else of
/// its missing triple.
fn fingerprint_of(task: &str, index: usize, f: &Finding) -> u64 {
    match &f.culprit {
        Some(c) => fingerprint(task, index, c) ^ fnv1a(b"culprit"),
        None => fingerprint(task, index, &f.missing),
    }
}

impl Baseline {
    /// Reads the findings of the execution in `dir`; refuses one checked with other rules or
    /// another mapping (its findings would not compare).
    pub fn load(dir: &Path, now: &ExecutionSpec) -> Result<Baseline, RunError> {
        let refuse = |reason: String| RunError::Baseline {
            path: dir.display().to_string(),
            reason,
        };
        let then = read_marker(dir)?
            .ok_or_else(|| refuse("is not a pff output folder (no execution.json)".into()))?;
        if then.rules_digest != now.rules_digest {
            return Err(refuse(format!(
                "was checked with other rules (digest {}, now {}): its findings do not compare",
                then.rules_digest, now.rules_digest
            )));
        }
        if then.id_key != now.id_key || then.mapping != now.mapping {
            return Err(refuse(format!(
                "was read with another mapping (`{}` with id key `{}`, now `{}` with `{}`)",
                then.mapping, then.id_key, now.mapping, now.id_key
            )));
        }
        let mut files: Vec<PathBuf> = fs::read_dir(dir.join("tasks"))
            .map_err(|e| refuse(format!("has no readable tasks folder ({e})")))?
            .flatten()
            .filter(|e| is_task_file_name(&e.file_name().to_string_lossy()))
            .map(|e| e.path())
            .collect();
        files.sort();
        let mut findings = FxHashMap::default();
        let mut skipped = Vec::new();
        for file in files {
            let parsed = match folder::read_nofollow(&file) {
                Ok(bytes) => {
                    TaskFile::<Vec<RecordReport>>::parse(&bytes).map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            let d = match parsed {
                Ok(d) => d,
                Err(why) => {
                    skipped.push((file.display().to_string(), why));
                    continue;
                }
            };
            if d.execution != then.execution_id {
                continue;
            }
            for r in &d.records {
                for f in &r.findings {
                    findings.insert(
                        fingerprint_of(&d.task, r.index, f),
                        Earlier {
                            task: d.task.clone(),
                            index: r.index,
                            missing: f.missing.clone(),
                            culprit: f.culprit.clone(),
                            severity: f.severity,
                            seen: false,
                        },
                    );
                }
            }
        }
        let mut b = Baseline::of(findings);
        b.skipped = skipped;
        Ok(b)
    }

    /// Refuses a baseline that is the output folder itself: `--fresh` would discard it before
    /// it is read, `--resume` would compare tonight with tonight.
    pub fn refuse_self(dir: &Path, output: &Path) -> Result<(), RunError> {
        if crate::files::same_file(dir, output) {
            return Err(RunError::Baseline {
                path: dir.display().to_string(),
                reason: "is this execution's own output folder: pass the folder of an earlier \
                         execution (or `last`)"
                    .into(),
            });
        }
        Ok(())
    }

    /// The baseline's task files that could not be read (file, why): their findings count
    /// as new.
    pub fn skipped(&self) -> &[(String, String)] {
        &self.skipped
    }

    fn of(findings: FxHashMap<u64, Earlier>) -> Baseline {
        let checked = findings.values().map(|e| (e.task.clone(), false)).collect();
        Baseline {
            findings,
            checked,
            counts: BaselineCounts::default(),
            skipped: Vec::new(),
        }
    }

    /// Tonight's run checked `task` without an error: its earlier findings not seen again are
    /// fixed.
    pub fn checked(&mut self, task: &str) {
        if let Some(c) = self.checked.get_mut(task) {
            *c = true;
        }
    }

    /// Marks the findings of one record of `task` `new` or `known`.
    pub fn mark(&mut self, task: &str, record: &mut RecordReport) {
        let index = record.index;
        for f in &mut record.findings {
            let state = self.state(task, index, f);
            f.baseline = Some(state);
        }
    }

    fn state(&mut self, task: &str, index: usize, f: &Finding) -> BaselineState {
        match self.findings.get_mut(&fingerprint_of(task, index, f)) {
            Some(e) => {
                e.seen = true;
                self.counts.known += 1;
                BaselineState::Known
            }
            None => {
                self.counts.new.add(f.severity, 1);
                BaselineState::New
            }
        }
    }

    /// Writes the earlier findings of the tasks [`Self::checked`] tonight that were not seen
    /// again to `w`, one JSON object a line; the counts, fixed included.
    pub fn finish(&mut self, w: &mut impl Write) -> std::io::Result<BaselineCounts> {
        let checked = &self.checked;
        let mut fixed: Vec<&Earlier> = self
            .findings
            .values()
            .filter(|e| !e.seen && checked.get(&e.task) == Some(&true))
            .collect();
        fixed.sort_by(|a, b| {
            (
                &a.task,
                a.index,
                &a.missing.subject,
                &a.missing.relation,
                &a.missing.object,
            )
                .cmp(&(
                    &b.task,
                    b.index,
                    &b.missing.subject,
                    &b.missing.relation,
                    &b.missing.object,
                ))
        });
        for e in &fixed {
            serde_json::to_writer(&mut *w, e).map_err(std::io::Error::from)?;
            w.write_all(b"\n")?;
        }
        self.counts.fixed = fixed.len() as u64;
        Ok(self.counts)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str, r: &str, o: &str) -> Triple {
        Triple {
            subject: s.into(),
            relation: r.into(),
            object: o.into(),
        }
    }

    fn earlier(task: &str, index: usize, m: Triple) -> (u64, Earlier) {
        (
            fingerprint(task, index, &m),
            Earlier {
                task: task.into(),
                index,
                missing: m,
                culprit: None,
                severity: Severity::Error,
                seen: false,
            },
        )
    }

    #[test]
    fn fingerprints_tell_every_part_apart() {
        let m = t("a", "b", "c");
        let base = fingerprint("T1", 0, &m);
        assert_eq!(base, fingerprint("T1", 0, &t("a", "b", "c")));
        assert_ne!(base, fingerprint("T2", 0, &m));
        assert_ne!(base, fingerprint("T1", 1, &m));
        assert_ne!(base, fingerprint("T1", 0, &t("a", "b", "d")));
        // The separator keeps field boundaries: "ab"+"c" is not "a"+"bc".
        assert_ne!(
            fingerprint("T", 0, &t("ab", "c", "x")),
            fingerprint("T", 0, &t("a", "bc", "x"))
        );
    }

    /// A culprit is known by the value it blames, not by the conflict it shows: the conflict
    /// itself keeps its own fingerprint.
    #[test]
    fn a_culprit_is_fingerprinted_by_its_value() {
        let conflict = Finding {
            severity: Severity::Error,
            score: 0.9,
            message: String::new(),
            kind: crate::report::FindingKind::Conflict,
            focus: "K1".into(),
            missing: t("K1", "paymentContext", "Postpaid"),
            present: vec!["Control".into()],
            consequences: Vec::new(),
            consequence_count: 0,
            culprit: None,
            explains: Vec::new(),
            baseline: None,
            rule_count: 1,
            rules: Vec::new(),
        };
        let culprit = Finding {
            kind: crate::report::FindingKind::Culprit,
            focus: "P1".into(),
            culprit: Some(t("P1", "offering", "PJ")),
            explains: vec![conflict.missing.clone()],
            ..conflict.clone()
        };
        let a = fingerprint_of("T", 0, &conflict);
        let b = fingerprint_of("T", 0, &culprit);
        assert_ne!(a, b);
        let other = Finding {
            missing: t("A1", "name", "Postpaid BA"),
            ..culprit.clone()
        };
        assert_eq!(b, fingerprint_of("T", 0, &other), "the same value blamed");
    }

    #[test]
    fn fixed_are_the_unseen_findings_of_tonights_tasks_in_order() {
        let mut findings = FxHashMap::default();
        for (k, e) in [
            earlier("T2", 0, t("s", "r", "o2")),
            earlier("T1", 3, t("s", "r", "o")),
            earlier("T1", 0, t("s", "r", "o")),
            earlier("GONE", 0, t("s", "r", "o")),
        ] {
            findings.insert(k, e);
        }
        let mut b = Baseline::of(findings);
        if let Some(e) = b
            .findings
            .get_mut(&fingerprint("T2", 0, &t("s", "r", "o2")))
        {
            e.seen = true;
        }
        b.checked("T1");
        b.checked("T2");
        b.checked("NOT IN THE BASELINE");
        let mut out = Vec::new();
        let counts = b.finish(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(counts.fixed, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[0].contains("\"index\":0") && lines[1].contains("\"index\":3"));
        assert!(
            !text.contains("GONE"),
            "a task not checked tonight is not fixed"
        );
    }
}
