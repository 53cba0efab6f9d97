//! A run's rules, read once and then used without holding them all.
//!
//! [`RuleSource::open`] reads the rules files once: every line is checked (all bad lines are
//! reported before any work starts), the kept rules are counted and numbered, and the symbol
//! table is built — the names the rules mention, which grow with the vocabulary of the data the
//! rules were mined on, not with the number of rules. The rules are held in memory when they fit
//! in one batch; else [`RuleSource::open_indexed`] files them in a [`RuleStore`] (each record
//! then reads the rules it can use). Either way [`RuleCatalog::each_rule`] lists them again in
//! order (rule statistics, rule health): from memory, from the store, or — with neither — by
//! reading the files again in batches against the same symbol table, frozen, so every rule
//! keeps the ids and the index of the first reading.

use std::fs::{self, File};
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use super::reader::{open_rules_file, scan_rules};
use super::store::{RuleStore, StoreBuilder};
use super::{Frozen, Priors, RelId, Rule, RuleLines, RuleSet, RulesError};

/// A rule's id (`file:line`), text and mined confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleName {
    /// `file:line` of the rule.
    pub rule_id: String,
    /// The rule as written.
    pub text: String,
    /// Its mined confidence.
    pub confidence: f64,
}

impl RuleName {
    /// The name of `rule`, a rule of `set`.
    pub fn of(set: &RuleSet, rule: &Rule) -> Self {
        Self {
            rule_id: set.rule_id(rule),
            text: rule.text.to_string(),
            confidence: rule.confidence,
        }
    }
}

/// Rules that can be visited in order: a rule set in memory or a [`RuleSource`].
pub trait RuleCatalog {
    /// How many rules (after filtering).
    fn rule_count(&self) -> usize;
    /// The files, comma separated (for headers).
    fn source_names(&self) -> &str;
    /// Calls `f` with each rule's index, the rule set it belongs to (for its id and names) and
    /// the rule, in order.
    fn each_rule(&self, f: &mut dyn FnMut(usize, &RuleSet, &Rule)) -> Result<(), RulesError>;
    /// True when [`Self::describe`] can look rules up by index.
    fn random_access(&self) -> bool;
    /// Rule `index`'s id, text and confidence, when rules can be looked up by index.
    fn describe(&self, index: usize) -> Result<Option<RuleName>, RulesError>;
    /// Rule `index`'s confidence, when rules can be looked up by index.
    fn confidence(&self, index: usize) -> Result<Option<f64>, RulesError> {
        Ok(self.describe(index)?.map(|r| r.confidence))
    }
}

impl RuleCatalog for RuleSet {
    fn rule_count(&self) -> usize {
        self.rules.len()
    }

    fn source_names(&self) -> &str {
        &self.source
    }

    fn each_rule(&self, f: &mut dyn FnMut(usize, &RuleSet, &Rule)) -> Result<(), RulesError> {
        for (i, r) in self.rules.iter().enumerate() {
            f(i, self, r);
        }
        Ok(())
    }

    fn random_access(&self) -> bool {
        true
    }

    fn describe(&self, index: usize) -> Result<Option<RuleName>, RulesError> {
        Ok(self.rules.get(index).map(|r| RuleName::of(self, r)))
    }
}

fn confident(min_confidence: f64) -> Keep {
    Box::new(move |r: &Rule| r.confidence >= min_confidence)
}

impl std::fmt::Debug for RuleSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSource")
            .field("paths", &self.paths)
            .field("batch", &self.batch)
            .field("holding", &self.holding)
            .field("count", &self.count)
            .finish_non_exhaustive()
    }
}

/// What a file looked like when it was first read: a later pass over a changed file is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp {
    len: u64,
    modified: Option<SystemTime>,
}

fn stamp(path: &Path) -> Option<Stamp> {
    fs::metadata(path).ok().map(|m| Stamp {
        len: m.len(),
        modified: m.modified().ok(),
    })
}

/// A rule filter that can be kept and shared across threads.
pub type Keep = Box<dyn Fn(&Rule) -> bool + Send + Sync>;

/// Rules files read once to check them, then as often as needed in batches.
pub struct RuleSource {
    paths: Vec<PathBuf>,
    /// Which rules are kept (and numbered); the others are read and checked, then skipped.
    keep: Keep,
    batch: usize,
    /// Sources and symbols; every rule too when they are held in memory.
    set: Arc<RuleSet>,
    holding: Holding,
    count: usize,
    stamps: Vec<Option<Stamp>>,
    /// How many kept rules use each relation (by relation id), in their head or body.
    per_relation: Vec<u32>,
    /// The kept body-less rules' confidences, by the triple they predict.
    priors: Arc<Priors>,
}

/// Where a [`RuleSource`] holds its rules.
#[derive(Debug)]
enum Holding {
    /// Every rule in memory, in `set` (they fit in one batch).
    InMemory,
    /// Filed by anchor on disk (they did not fit, and a store folder was given).
    Filed(RuleStore),
    /// Neither: read again from the files, in batches, when listed.
    Listed,
}

/// Consecutive rules of a [`RuleSource`]: `rules.rules[i]` is rule `offset + i` of the whole
/// set. The batch shares the source's symbols.
#[derive(Debug, Clone)]
struct RuleBatch {
    offset: usize,
    rules: Arc<RuleSet>,
}

/// The kept rules as one checking pass reads them: in memory up to `batch`, then filed in a
/// store under `store_in` (or, without one, listed to be read again from the files), with how
/// many rules use each relation.
struct Gathered<'p> {
    batch: usize,
    store_in: Option<&'p Path>,
    /// The rules held, while they fit the batch.
    rules: Vec<Rule>,
    /// Every rule so far fits the batch.
    kept: bool,
    count: usize,
    per_relation: Vec<u32>,
    priors: Priors,
    builder: Option<StoreBuilder>,
    /// Why the store could not be written (the pass stops adding).
    store_err: Option<std::io::Error>,
}

impl Gathered<'_> {
    /// Adds one kept rule.
    fn add(&mut self, r: Rule) {
        self.count += 1;
        self.priors.add(&r);
        let mut rels: Vec<RelId> = std::iter::once(r.head.rel)
            .chain(r.body.iter().map(|a| a.rel))
            .collect();
        rels.sort_unstable();
        rels.dedup();
        for rel in rels {
            let i = rel as usize;
            if self.per_relation.len() <= i {
                self.per_relation.resize(i + 1, 0);
            }
            self.per_relation[i] += 1;
        }
        if self.kept {
            if self.rules.len() < self.batch {
                self.rules.push(r);
                return;
            }
            // The batch is full: from here the rules are filed (those held first).
            self.kept = false;
            if let Some(dir) = self.store_in {
                let started = StoreBuilder::new(dir).and_then(|mut b| {
                    for r in &self.rules {
                        b.push(r)?;
                    }
                    Ok(b)
                });
                match started {
                    Ok(b) => self.builder = Some(b),
                    Err(e) => self.store_err = Some(e),
                }
            }
            self.rules = Vec::new();
        }
        if let Some(b) = &mut self.builder
            && let Err(e) = b.push(&r)
        {
            self.store_err = Some(e);
        }
    }
}

impl RuleSource {
    /// Reads and checks the files, keeping the rules whose confidence is at least
    /// `min_confidence`, in batches of `batch` rules (at least 1). More rules than a batch are
    /// not kept: they can be listed again ([`RuleCatalog::each_rule`]) but not checked.
    pub fn open<P: AsRef<Path>>(
        paths: &[P],
        min_confidence: f64,
        batch: usize,
    ) -> Result<Self, RulesError> {
        Self::open_in(paths, confident(min_confidence), batch, None)
    }

    /// Like [`Self::open`], and when the rules do not fit in a batch, files them by anchor in a
    /// [`RuleStore`] in a new folder inside `store_in` (removed with the source), for
    /// [`Self::store`].
    pub fn open_indexed<P: AsRef<Path>>(
        paths: &[P],
        min_confidence: f64,
        batch: usize,
        store_in: &Path,
    ) -> Result<Self, RulesError> {
        Self::open_in(paths, confident(min_confidence), batch, Some(store_in))
    }

    /// [`Self::open_indexed`] keeping the rules `keep` accepts.
    pub fn open_filtered<P: AsRef<Path>>(
        paths: &[P],
        keep: Keep,
        batch: usize,
        store_in: &Path,
    ) -> Result<Self, RulesError> {
        Self::open_in(paths, keep, batch, Some(store_in))
    }

    fn open_in<P: AsRef<Path>>(
        paths: &[P],
        keep: Keep,
        batch: usize,
        store_in: Option<&Path>,
    ) -> Result<Self, RulesError> {
        let batch = batch.max(1);
        let mut set = RuleSet::default();
        let mut stamps = Vec::new();
        let mut g = Gathered {
            batch,
            store_in,
            rules: Vec::new(),
            kept: true,
            count: 0,
            per_relation: Vec::new(),
            priors: Priors::default(),
            builder: None,
            store_err: None,
        };
        for p in paths {
            let p = p.as_ref();
            // Taken before reading: a change made while the file is read shows later.
            stamps.push(stamp(p));
            let (shown, reader) = open_rules_file(p)?;
            scan_rules(&mut set, &shown, reader, |r| {
                if keep(&r) && g.store_err.is_none() {
                    g.add(r);
                }
            })?;
        }
        let store_error = |source| RulesError::Store {
            dir: store_in.map_or(String::new(), |d| d.display().to_string()),
            source,
        };
        if let Some(e) = g.store_err {
            return Err(store_error(e));
        }
        let store = g
            .builder
            .map(|b| b.finish(set.symbols.relations.len(), set.symbols.entities.len()))
            .transpose()
            .map_err(store_error)?;
        set.rules = g.rules;
        let holding = match (g.kept, store) {
            (true, _) => Holding::InMemory,
            (false, Some(store)) => Holding::Filed(store),
            (false, None) => Holding::Listed,
        };
        Ok(Self {
            holding,
            paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
            keep,
            batch,
            set: Arc::new(set),
            count: g.count,
            stamps,
            per_relation: g.per_relation,
            priors: Arc::new(g.priors),
        })
    }

    /// Each relation the kept rules use, with how many of them use it.
    pub fn rules_per_relation(&self) -> Vec<(&str, u32)> {
        self.per_relation
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, n)| (self.set.symbols.relations.name(i as RelId), *n))
            .collect()
    }

    /// The number of rules.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no rule was kept.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Rules per batch.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    /// True when the rules fit in one batch and are held in memory (read once).
    pub fn in_memory(&self) -> bool {
        matches!(self.holding, Holding::InMemory)
    }

    /// The symbol table, sources and file names (no rules unless [`Self::in_memory`]).
    pub fn header(&self) -> &RuleSet {
        &self.set
    }

    /// A source over a compiled rule set ([`super::compiled::open`]): `set` holds its names
    /// and no rule, `store` every rule, read per record `batch` at a time.
    pub(super) fn compiled<P: AsRef<Path>>(
        paths: &[P],
        set: RuleSet,
        store: RuleStore,
        per_relation: Vec<u32>,
        priors: Priors,
        batch: usize,
    ) -> Self {
        Self {
            paths: paths.iter().map(|p| p.as_ref().to_path_buf()).collect(),
            keep: Box::new(|_| true),
            batch: batch.max(1),
            count: store.len(),
            stamps: paths.iter().map(|p| stamp(p.as_ref())).collect(),
            set: Arc::new(set),
            holding: Holding::Filed(store),
            per_relation,
            priors: Arc::new(priors),
        }
    }

    /// The kept body-less rules' confidences, by the triple they predict.
    pub fn priors(&self) -> &Arc<Priors> {
        &self.priors
    }

    /// How many kept rules use each relation, by relation id.
    pub fn per_relation(&self) -> &[u32] {
        &self.per_relation
    }

    /// The rules filed by anchor on disk, when they did not fit in a batch and
    /// [`Self::open_indexed`] was used.
    pub fn store(&self) -> Option<&RuleStore> {
        match &self.holding {
            Holding::Filed(store) => Some(store),
            _ => None,
        }
    }

    /// Rule `index` of the whole set (from memory or the store).
    pub fn fetch(&self, index: u32) -> Result<Rule, RulesError> {
        match &self.holding {
            Holding::InMemory => {
                self.set
                    .rules
                    .get(index as usize)
                    .cloned()
                    .ok_or_else(|| RulesError::Changed {
                        path: self.set.source.clone(),
                        detail: format!("rule {index} asked for, {} held", self.count),
                    })
            }
            Holding::Filed(store) => store
                .fetch(index)
                .map_err(|source| self.store_error(source)),
            Holding::Listed => Err(RulesError::Changed {
                path: self.set.source.clone(),
                detail: "the rules were not filed (open_indexed)".into(),
            }),
        }
    }

    /// An error reading the rule store back.
    pub fn store_error(&self, source: std::io::Error) -> RulesError {
        self.set.store_error(source)
    }

    /// One pass over the rules, batch by batch, in order.
    fn batches(&self) -> Batches<'_> {
        Batches {
            src: self,
            file: 0,
            lines: None,
            offset: 0,
            done: false,
        }
    }
}

impl RuleCatalog for RuleSource {
    fn rule_count(&self) -> usize {
        self.count
    }

    fn source_names(&self) -> &str {
        &self.set.source
    }

    fn random_access(&self) -> bool {
        !matches!(self.holding, Holding::Listed)
    }

    fn describe(&self, index: usize) -> Result<Option<RuleName>, RulesError> {
        if !self.random_access() {
            return Ok(None);
        }
        let index = u32::try_from(index).map_err(|_| RulesError::Changed {
            path: self.set.source.clone(),
            detail: format!("rule {index} asked for"),
        })?;
        Ok(Some(RuleName::of(&self.set, &self.fetch(index)?)))
    }

    /// From the store when there is one (the rules exactly as they were checked), else the
    /// files read again in batches.
    fn each_rule(&self, f: &mut dyn FnMut(usize, &RuleSet, &Rule)) -> Result<(), RulesError> {
        if let Holding::Filed(store) = &self.holding {
            return store
                .each(|i, rule| f(i, &self.set, rule))
                .map_err(|e| self.store_error(e));
        }
        for b in self.batches() {
            let b = b?;
            for (i, r) in b.rules.rules.iter().enumerate() {
                f(b.offset + i, &b.rules, r);
            }
        }
        Ok(())
    }
}

/// A pass over a [`RuleSource`]'s rules, read again from their files.
struct Batches<'a> {
    src: &'a RuleSource,
    /// The file read next when `lines` is done.
    file: usize,
    lines: Option<(String, RuleLines<BufReader<File>, Frozen>)>,
    offset: usize,
    done: bool,
}

impl Batches<'_> {
    /// Opens the next rules file when none is open (refused when it changed since the
    /// checking pass); false when none is left.
    fn open_next(&mut self) -> Result<bool, RulesError> {
        if self.lines.is_some() {
            return Ok(true);
        }
        let src = self.src;
        let Some(path) = src.paths.get(self.file) else {
            return Ok(false);
        };
        let shown = path.display().to_string();
        if stamp(path) != src.stamps[self.file] {
            return Err(RulesError::Changed {
                path: shown,
                detail: "its size or modification time differs".into(),
            });
        }
        let (_, reader) = open_rules_file(path)?;
        let names = Frozen(src.set.symbols.clone());
        self.lines = Some((shown, RuleLines::with_symbols(reader, names)));
        Ok(true)
    }

    fn changed(
        &mut self,
        path: &str,
        detail: impl Into<String>,
    ) -> Option<Result<RuleBatch, RulesError>> {
        self.done = true;
        Some(Err(RulesError::Changed {
            path: path.to_string(),
            detail: detail.into(),
        }))
    }
}

impl Iterator for Batches<'_> {
    type Item = Result<RuleBatch, RulesError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let src = self.src;
        if src.in_memory() {
            self.done = true;
            return Some(Ok(RuleBatch {
                offset: 0,
                rules: src.set.clone(),
            }));
        }
        let mut rules = Vec::with_capacity(src.batch.min(src.count - self.offset.min(src.count)));
        while rules.len() < src.batch {
            match self.open_next() {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
            let Some((shown, lines)) = self.lines.as_mut() else {
                break;
            };
            match lines.next() {
                Some(Ok(mut rule)) => {
                    // `open` refused more than u16::MAX files.
                    rule.file = self.file as u16;
                    if (src.keep)(&rule) {
                        rules.push(rule);
                    }
                }
                Some(Err(e)) => {
                    let shown = shown.clone();
                    return self.changed(&shown, e.to_string());
                }
                None => {
                    if let Some(source) = lines.io_error.take() {
                        self.done = true;
                        return Some(Err(RulesError::Io {
                            path: shown.clone(),
                            source,
                        }));
                    }
                    self.lines = None;
                    self.file += 1;
                }
            }
        }
        let found = self.offset + rules.len();
        if found > src.count || (rules.is_empty() && found < src.count) {
            let path = src.set.source.clone();
            return self.changed(
                &path,
                format!("it held {} rules, it now holds {found} or more", src.count),
            );
        }
        if rules.is_empty() {
            self.done = true;
            return None;
        }
        let batch = RuleBatch {
            offset: self.offset,
            rules: Arc::new(RuleSet {
                sources: src.set.sources.clone(),
                source: src.set.source.clone(),
                symbols: src.set.symbols.clone(),
                rules,
                without_counts: 0,
                compiled_in: src.set.compiled_in.clone(),
            }),
        };
        self.offset = found;
        Some(Ok(batch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::load_rules_many;

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        fs::write(&p, text).unwrap();
        p
    }

    const A: &str = "10\t5\t0.5\th(X,c) <= b(X,A)\n# note\n10\t1\t0.1\tg(X,Y) <= b(X,Y)\n\
                     10\t9\t0.9\th(X,d) <= b(X,e)\n";
    const B: &str = "10\t8\t0.8\tk(X,f) <= h(X,A), b(A,c)\n10\t2\t0.2\th(X,Y) <= \t\n";

    /// Every batching of the files gives the rules a whole load gives, with the same ids.
    #[test]
    fn batches_equal_the_whole_set() {
        let dir = tempfile::TempDir::new().unwrap();
        let a = write(dir.path(), "a.rules", A);
        let b = write(
            dir.path(),
            "b.rules",
            "10\t8\t0.8\tk(X,f) <= h(X,A), b(A,c)\nh(X,Y) <= b(Y,X)\n",
        );
        let whole = load_rules_many(&[&a, &b]).unwrap();
        for batch in 1..=6 {
            let src = RuleSource::open(&[&a, &b], 0.0, batch).unwrap();
            assert_eq!(src.len(), 5);
            assert_eq!(src.in_memory(), batch >= 5, "batch {batch}");
            let mut seen = Vec::new();
            src.each_rule(&mut |i, set, r| {
                seen.push((
                    i,
                    set.rule_id(r),
                    r.head,
                    r.body.to_vec(),
                    r.consts.to_vec(),
                ))
            })
            .unwrap();
            let expected: Vec<_> = whole
                .rules
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    (
                        i,
                        whole.rule_id(r),
                        r.head,
                        r.body.to_vec(),
                        r.consts.to_vec(),
                    )
                })
                .collect();
            assert_eq!(seen, expected, "batch {batch}");
            let sizes: Vec<usize> = src
                .batches()
                .map(|b| b.unwrap().rules.rules.len())
                .collect();
            assert_eq!(sizes.len(), 5usize.div_ceil(batch), "batch {batch}");
            assert!(sizes.iter().all(|&n| n <= batch));
        }
    }

    #[test]
    fn min_confidence_filters_and_renumbers() {
        let dir = tempfile::TempDir::new().unwrap();
        let a = write(dir.path(), "a.rules", A);
        let src = RuleSource::open(&[&a], 0.4, 1).unwrap();
        assert_eq!(src.len(), 2);
        let mut lines = Vec::new();
        src.each_rule(&mut |i, _, r| lines.push((i, r.line)))
            .unwrap();
        assert_eq!(lines, vec![(0, 1), (1, 4)]);
    }

    #[test]
    fn bad_lines_are_reported_by_open() {
        let dir = tempfile::TempDir::new().unwrap();
        let b = write(dir.path(), "b.rules", B);
        let err = RuleSource::open(&[&b], 0.0, 1).unwrap_err();
        assert!(
            matches!(err, RulesError::BadLines { total: 1, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_file_changed_between_passes_is_refused() {
        let dir = tempfile::TempDir::new().unwrap();
        let a = write(dir.path(), "a.rules", A);
        let src = RuleSource::open(&[&a], 0.0, 1).unwrap();
        assert_eq!(src.batches().count(), 3);
        // A new constant, a new length: both the stamp and the symbol table catch it.
        fs::write(&a, format!("{A}1\t1\t1.0\th(X,zzz) <= b(X,A)\n")).unwrap();
        let err = src.batches().find_map(Result::err).expect("refused");
        assert!(matches!(err, RulesError::Changed { .. }), "{err}");
        assert!(
            err.to_string().contains("changed while pff was using it"),
            "{err}"
        );
    }
}
