//! Rule sets: rules that carry how to use them (`docs/rules.md`, "Rule sets").
//!
//! A rule set is a folder holding `rules.txt` (AnyBURL's format, unchanged: PyClause and any
//! AnyBURL-reading tool read it as it is) and `ruleset.json`: the *encoding* the rules were
//! learned under (mapping, name key, id key: what turns records into the triples they speak
//! of), the *severities* calibrated for them (with the reference data's digest), and where
//! they came from. `pff learn -o DIR` writes one, `pff calibrate` records its cut points in
//! it, and `validate`, `run`, `calibrate` and `learn`'s recount use what it says with no flag
//! to repeat. A plain rules file works exactly as before.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::triples::Mapping;
use crate::triples::MappingKind;

/// The rules file inside a rule set folder.
pub const RULES_FILE: &str = "rules.txt";
/// pff's record inside a rule set folder.
pub const INFO_FILE: &str = "ruleset.json";
/// What `ruleset.json` says it is.
const FORMAT: &str = "pff-ruleset";
/// The version of `ruleset.json` this build writes and reads.
const VERSION: u32 = 1;

/// `ruleset.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSetInfo {
    /// Always `pff-ruleset`.
    pub format: String,
    pub version: u32,
    /// How records became the triples the rules were learned on.
    pub encoding: Encoding,
    /// The cut points `pff calibrate` found for these rules, when it ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severities: Option<Severities>,
    /// Where the rules came from, when `pff learn` made them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learned: Option<Provenance>,
    /// The rules file `pff rules import` copied (as given) and its digest, for rules learned
    /// elsewhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported: Option<(String, String)>,
}

/// Every option that changes the triples a record gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Encoding {
    pub mapping: MappingKind,
    pub name_key: String,
    pub id_key: String,
    /// `(node, id_key, node)` for every node named by its id.
    #[serde(default)]
    pub id_triples: bool,
    /// Values also give their shapes.
    #[serde(default)]
    pub shapes: bool,
    /// A file's records are one graph (learned, recounted and checked so).
    #[serde(default)]
    pub one_graph: bool,
}

impl Encoding {
    pub fn of(m: &Mapping) -> Self {
        Encoding {
            mapping: m.kind,
            name_key: m.name_key.clone(),
            id_key: m.id_key.clone(),
            id_triples: m.id_triples,
            shapes: m.shapes,
            one_graph: m.one_graph,
        }
    }

    pub fn mapping(&self) -> Mapping {
        Mapping {
            id_key: self.id_key.clone(),
            kind: self.mapping,
            name_key: self.name_key.clone(),
            id_triples: self.id_triples,
            shapes: self.shapes,
            one_graph: self.one_graph,
        }
    }
}

/// Calibrated cut points and what they were calibrated on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Severities {
    pub error_confidence: f64,
    pub warning_confidence: f64,
    /// The clean reference records, as given, and a digest of their content.
    pub reference: String,
    pub reference_digest: String,
}

/// How `pff learn` made the rules.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// The training data, as given, and a digest of its content.
    pub data: String,
    pub data_digest: String,
    /// Training triples written for AnyBURL.
    pub triples: u64,
    /// The AnyBURL jar's file name and a digest of it.
    pub anyburl: String,
    pub anyburl_digest: String,
    /// AnyBURL's configuration as pff wrote it (`config-learn.properties`).
    pub settings: Vec<String>,
    pub learning_secs: u64,
    /// Confidences recounted exactly on the training data (else AnyBURL's own).
    pub recounted: bool,
}

/// Why a rule set cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RuleSetError {
    #[error("cannot read the rule set {path}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a rule set pff can read: {why}")]
    Invalid { path: String, why: String },
    #[error(
        "{path} is a folder but not a rule set (no {INFO_FILE}); pass a rules file, or a folder \
         `pff learn -o DIR` made"
    )]
    NotARuleSet { path: String },
    #[error(
        "the rule sets disagree on {what}: {a} ({pa}) and {b} ({pb}); check each with its own \
         records"
    )]
    Disagree {
        what: &'static str,
        a: String,
        pa: String,
        b: String,
        pb: String,
    },
}

/// Rules as the user named them: the rules files to read, and what rule sets among them say.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    pub files: Vec<PathBuf>,
    /// The recorded settings, when a rule set was named (all of them agree).
    pub info: Option<RuleSetInfo>,
    /// The rule set folder the info came from.
    pub from: Option<PathBuf>,
}

/// Whether `path` is a rule set folder.
pub fn is_rule_set(path: &Path) -> bool {
    path.is_dir() && path.join(INFO_FILE).is_file()
}

/// Reads the `ruleset.json` of the rule set folder `dir`.
pub fn read_info(dir: &Path) -> Result<RuleSetInfo, RuleSetError> {
    let path = dir.join(INFO_FILE);
    let shown = path.display().to_string();
    let text = crate::files::read_bounded(&path, 1 << 20).map_err(|source| RuleSetError::Io {
        path: shown.clone(),
        source,
    })?;
    let info: RuleSetInfo = serde_json::from_slice(&text).map_err(|e| RuleSetError::Invalid {
        path: shown.clone(),
        why: e.to_string(),
    })?;
    if info.format != FORMAT || info.version != VERSION {
        return Err(RuleSetError::Invalid {
            path: shown,
            why: format!(
                "it says {} version {}; this pff reads {FORMAT} version {VERSION}",
                info.format, info.version
            ),
        });
    }
    Ok(info)
}

/// The rules files and recorded settings of the rules named on a command line or in a
/// manifest: a rule set folder gives its `rules.txt` and `ruleset.json`, a file is itself.
/// Several rule sets must agree on their encoding and severities.
pub fn resolve(paths: &[PathBuf]) -> Result<Resolved, RuleSetError> {
    let mut out = Resolved::default();
    for p in paths {
        if !p.is_dir() {
            out.files.push(p.clone());
            continue;
        }
        if !p.join(INFO_FILE).is_file() {
            return Err(RuleSetError::NotARuleSet {
                path: p.display().to_string(),
            });
        }
        let info = read_info(p)?;
        out.files.push(p.join(RULES_FILE));
        match (&out.info, &out.from) {
            (Some(a), Some(pa)) => {
                let disagree = |what, x: String, y: String| RuleSetError::Disagree {
                    what,
                    a: x,
                    pa: pa.display().to_string(),
                    b: y,
                    pb: p.display().to_string(),
                };
                if a.encoding != info.encoding {
                    return Err(disagree(
                        "the encoding",
                        describe(&a.encoding),
                        describe(&info.encoding),
                    ));
                }
                let cuts = |i: &RuleSetInfo| {
                    i.severities
                        .as_ref()
                        .map(|s| (s.error_confidence, s.warning_confidence))
                };
                if cuts(a) != cuts(&info) {
                    return Err(disagree(
                        "the severities",
                        format!("{:?}", cuts(a)),
                        format!("{:?}", cuts(&info)),
                    ));
                }
            }
            _ => {
                out.info = Some(info);
                out.from = Some(p.clone());
            }
        }
    }
    Ok(out)
}

/// The encoding settings a user gave (flags, or a manifest's keys), each with where it was given
/// (`--mapping`, `mapping:`): what [`Asked::settle`] lays over a rule set's record.
#[derive(Debug, Clone, Default)]
pub struct Asked {
    /// `--mapping` / `mapping:`.
    pub mapping: Option<(MappingKind, &'static str)>,
    /// `--name-key` / `name_key:`.
    pub name_key: Option<(String, &'static str)>,
    /// `--id-key` / `id_key:`.
    pub id_key: Option<(String, &'static str)>,
    /// `--id-triples` / `id_triples:`.
    pub id_triples: Option<(bool, &'static str)>,
    /// `--shapes` / `shapes:`.
    pub shapes: Option<(bool, &'static str)>,
    /// `--one-graph` / `one_graph:`.
    pub one_graph: Option<(bool, &'static str)>,
}

/// A setting given by the user that contradicts what a rule set records.
#[derive(Debug, thiserror::Error)]
#[error(
    "{key} {given} contradicts the rule set {from} ({key} {recorded}), learned under {learned}; \
     drop it (the rule set's encoding is used without it), or use rules learned under {given}"
)]
pub struct Contradiction {
    /// Where the setting was given (`--mapping`, `mapping:`).
    pub key: &'static str,
    /// The value given.
    pub given: String,
    /// The value the rule set records.
    pub recorded: String,
    /// The rule set folder.
    pub from: String,
    /// The rule set's whole encoding, as flags.
    pub learned: String,
}

impl Asked {
    /// The encoding in force: a rule set's (`recorded`, from the folder `from`), where every
    /// setting given must say the same (a name key only matters beyond the plain mapping);
    /// without a rule set, the settings given over the defaults. One rule for every command.
    pub fn settle(&self, recorded: Option<(&Encoding, &Path)>) -> Result<Mapping, Contradiction> {
        let Some((e, from)) = recorded else {
            let d = Mapping::default();
            return Ok(Mapping {
                kind: self.mapping.map_or(d.kind, |(k, _)| k),
                name_key: self.name_key.clone().map_or(d.name_key, |(k, _)| k),
                id_key: self.id_key.clone().map_or(d.id_key, |(k, _)| k),
                id_triples: self.id_triples.is_some_and(|(b, _)| b),
                shapes: self.shapes.is_some_and(|(b, _)| b),
                one_graph: self.one_graph.is_some_and(|(b, _)| b),
            });
        };
        let clash = |key: &'static str, given: String, recorded: String| Contradiction {
            key,
            given,
            recorded,
            from: from.display().to_string(),
            learned: describe(e),
        };
        if let Some((k, key)) = self.mapping
            && k != e.mapping
        {
            return Err(clash(key, k.to_string(), e.mapping.to_string()));
        }
        if let Some((k, key)) = &self.name_key
            && *k != e.name_key
            && e.mapping != MappingKind::Plain
        {
            return Err(clash(key, k.clone(), e.name_key.clone()));
        }
        if let Some((k, key)) = &self.id_key
            && *k != e.id_key
        {
            return Err(clash(key, k.clone(), e.id_key.clone()));
        }
        for (given, recorded) in [
            (self.id_triples, e.id_triples),
            (self.shapes, e.shapes),
            (self.one_graph, e.one_graph),
        ] {
            if let Some((b, key)) = given
                && b != recorded
            {
                return Err(clash(key, b.to_string(), recorded.to_string()));
            }
        }
        Ok(e.mapping())
    }
}

/// The encoding as the flags that ask for it ([`Mapping::flags`]).
pub fn describe(e: &Encoding) -> String {
    e.mapping().flags()
}

/// A new rule set `info` with its rules: written into `dir` (made if missing, which must hold
/// no `ruleset.json` or `rules.txt` it did not write) under temporary names, then renamed.
pub fn write_info(dir: &Path, info: &RuleSetInfo) -> Result<(), RuleSetError> {
    let path = dir.join(INFO_FILE);
    let io = |source| RuleSetError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut text = serde_json::to_vec_pretty(info).map_err(|e| io(io::Error::other(e)))?;
    text.push(b'\n');
    // pff's scratch naming: a crash's leftover is removed by the next write (its process is
    // gone), never anyone else's file.
    crate::scratch::remove_stale(dir, ".pff-tmp-");
    let tmp = dir.join(format!(
        ".pff-tmp-{}-0-{INFO_FILE}.part",
        std::process::id()
    ));
    fs::write(&tmp, &text).map_err(io)?;
    fs::rename(&tmp, &path).map_err(io)
}

/// A new `ruleset.json` for rules learned under `mapping`.
pub fn new_info(mapping: &Mapping, learned: Option<Provenance>) -> RuleSetInfo {
    RuleSetInfo {
        format: FORMAT.into(),
        version: VERSION,
        encoding: Encoding::of(mapping),
        severities: None,
        learned,
        imported: None,
    }
}

/// A digest of a file's content (FNV-1a, streamed), for provenance.
pub fn file_digest(path: &Path) -> io::Result<String> {
    let mut h = crate::files::Fnv1a::default();
    h.file(path)?;
    Ok(format!("fnv1a:{:016x}", h.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(dir: &Path, name: &str, mapping: MappingKind) -> PathBuf {
        let p = dir.join(name);
        fs::create_dir(&p).unwrap();
        fs::write(p.join(RULES_FILE), "1\t1\t1\ta(X,b) <= c(X,d)\n").unwrap();
        let m = Mapping {
            kind: mapping,
            ..Mapping::default()
        };
        write_info(&p, &new_info(&m, None)).unwrap();
        p
    }

    #[test]
    fn folders_files_and_agreement() {
        let d = tempfile::tempdir().unwrap();
        let a = set(d.path(), "a", MappingKind::Tmf);
        let b = set(d.path(), "b", MappingKind::Tmf);
        let c = set(d.path(), "c", MappingKind::Plain);
        let plain = d.path().join("plain.txt");
        fs::write(&plain, "1\t1\t1\ta(X,b) <= c(X,d)\n").unwrap();
        let r = resolve(&[a.clone(), plain.clone(), b]).unwrap();
        assert_eq!(r.files.len(), 3);
        assert_eq!(r.files[0], a.join(RULES_FILE));
        assert_eq!(r.info.unwrap().encoding.mapping, MappingKind::Tmf);
        let e = resolve(&[a, c]).unwrap_err().to_string();
        assert!(
            e.contains("--mapping tmf") && e.contains("--mapping plain"),
            "{e}"
        );
        assert!(resolve(&[plain]).unwrap().info.is_none());
        let empty = d.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(matches!(
            resolve(&[empty]),
            Err(RuleSetError::NotARuleSet { .. })
        ));
    }

    #[test]
    fn a_foreign_or_future_record_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let a = set(d.path(), "a", MappingKind::Nested);
        fs::write(a.join(INFO_FILE), r#"{"format":"other","version":1}"#).unwrap();
        assert!(read_info(&a).is_err());
        let mut info = new_info(&Mapping::default(), None);
        info.version = 99;
        fs::write(a.join(INFO_FILE), serde_json::to_vec(&info).unwrap()).unwrap();
        let e = read_info(&a).unwrap_err().to_string();
        assert!(e.contains("version 99"), "{e}");
    }
}
