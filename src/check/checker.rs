//! Where the rules live ([`RuleHome`]: in memory or on disk) and the checker that runs a
//! record's check over either ([`Checker`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use rayon::prelude::*;

use super::{Checked, Options, RecordCheck, Tally};
use crate::engine::rows::RowIndex;
use crate::engine::{CheckOptions, Engine, Scratch, store_candidates};
use crate::report::RecordReport;
use crate::rules::store::RuleStore;
use crate::rules::{EntId, Priors, Rule, RuleCatalog, RuleSet, RuleSource, RulesError};
use crate::triples::{Graph, RecordName};

/// Where a rule set lives, as a record's check sees it.
pub trait RuleHome: Sync {
    /// The symbols graphs are built over, the sources rule ids name, the relation names.
    fn header(&self) -> &RuleSet;
    /// Rules in the whole set.
    fn total(&self) -> usize;
    /// The rules in order, for rule statistics and health.
    fn catalog(&self) -> &dyn RuleCatalog;
    /// Adds to `check` the outcomes of the rules that may apply to `g`, in rule order.
    fn check_into(
        &self,
        check: &mut RecordCheck,
        g: &Graph<'_>,
        opts: &Options,
    ) -> Result<(), RulesError>;
    /// Adds to `checks[i]` the outcomes of the rules that may apply to `g` for the subjects
    /// `rows[i]` only (a file checked as one graph: [`crate::engine::rows`]), in rule order.
    fn check_rows_into(
        &self,
        checks: &mut [RecordCheck],
        g: &Graph<'_>,
        rows: &[Vec<EntId>],
        opts: &Options,
    ) -> Result<(), RulesError>;
    /// Rule `i` of the whole set, for the evidence of a finding.
    fn fetch(&self, i: u32) -> Result<Arc<Rule>, RulesError>;
    /// The body-less rules of the whole set, by the triple they predict: a finding's prior
    /// even where its body-less rule does not fire (an empty slot).
    fn priors(&self) -> &Priors;
}

/// What the engine collects for one record's chunk started at `started`: its time budget
/// covers every chunk (what the record has spent is taken off).
fn chunk_options(check: &RecordCheck, opts: &Options, started: Instant) -> CheckOptions {
    CheckOptions {
        collect_violations: opts.findings,
        // Findings keep no witness from here: the ones shown are found again, head bound.
        witnesses: false,
        max_violations_per_rule: opts.max_violations_per_rule,
        max_steps_per_rule: opts.max_rule_work,
        deadline: opts
            .time_budget
            // No deadline where it would overflow the clock (budgets are bounded anyway).
            .and_then(|b| started.checked_add(b.saturating_sub(check.spent()))),
        set_at_a_time: true,
        held_above: Some(super::record::VOUCH),
    }
}

/// Step 1 for the rows of one graph over one chunk of rules (`candidates`: the rules of
/// `rules` that may apply to `g`; `ids` as in [`check_chunk`]): each row checked for its own
/// subjects, the rows in parallel unless the records are already spread over workers.
fn check_rows_chunk(
    rules: &RuleSet,
    candidates: &[u32],
    ids: Option<&[u32]>,
    checks: &mut [RecordCheck],
    g: &Graph<'_>,
    rows: &[Vec<EntId>],
    opts: &Options,
) {
    let index = RowIndex::new(rules, candidates, g);
    let one = |scratch: &mut Scratch, (check, subjects): (&mut RecordCheck, &Vec<EntId>)| {
        let started = Instant::now();
        let res = index.check(g, subjects, chunk_options(check, opts, started), scratch);
        check.add_chunk(rules, ids, &res, opts, started.elapsed());
    };
    if opts.parallel_rules {
        checks
            .par_iter_mut()
            .zip(rows.par_iter())
            .for_each_init(Scratch::default, one);
    } else {
        let mut scratch = Scratch::default();
        checks
            .iter_mut()
            .zip(rows)
            .for_each(|pair| one(&mut scratch, pair));
    }
}

/// Step 1 over one engine's rules: the whole set through its index, or a chunk of candidates
/// (`ids[i]` is the index in the whole set of the chunk's rule `i`).
fn check_chunk(
    engine: &Engine<'_>,
    ids: Option<&[u32]>,
    check: &mut RecordCheck,
    g: &Graph<'_>,
    opts: &Options,
) {
    let started = Instant::now();
    let copts = chunk_options(check, opts, started);
    let res = if opts.parallel_rules {
        engine.check(g, copts)
    } else {
        engine.check_sequential(g, copts)
    };
    check.add_chunk(engine.rules(), ids, &res, opts, started.elapsed());
}

/// A rule set held in memory, with its index.
pub struct InMemory<'r> {
    engine: Engine<'r>,
    priors: Arc<Priors>,
}

impl<'r> InMemory<'r> {
    /// The home of `rules`, indexed by anchor.
    pub fn new(rules: &'r RuleSet) -> Self {
        Self::with_priors(rules, Arc::new(Priors::of(&rules.rules)))
    }

    /// The home of `rules` whose priors were gathered already (a [`RuleSource`] read them).
    pub fn with_priors(rules: &'r RuleSet, priors: Arc<Priors>) -> Self {
        Self {
            engine: Engine::new(rules),
            priors,
        }
    }
}

impl RuleHome for InMemory<'_> {
    fn header(&self) -> &RuleSet {
        self.engine.rules()
    }

    fn total(&self) -> usize {
        self.engine.rules().rules.len()
    }

    fn catalog(&self) -> &dyn RuleCatalog {
        self.engine.rules()
    }

    fn check_into(
        &self,
        check: &mut RecordCheck,
        g: &Graph<'_>,
        opts: &Options,
    ) -> Result<(), RulesError> {
        check_chunk(&self.engine, None, check, g, opts);
        Ok(())
    }

    fn check_rows_into(
        &self,
        checks: &mut [RecordCheck],
        g: &Graph<'_>,
        rows: &[Vec<EntId>],
        opts: &Options,
    ) -> Result<(), RulesError> {
        let candidates = self.engine.candidates(g);
        check_rows_chunk(
            self.engine.rules(),
            &candidates,
            None,
            checks,
            g,
            rows,
            opts,
        );
        Ok(())
    }

    fn fetch(&self, i: u32) -> Result<Arc<Rule>, RulesError> {
        let rules = self.engine.rules();
        rules
            .rules
            .get(i as usize)
            .map(|r| Arc::new(r.clone()))
            .ok_or_else(|| RulesError::Changed {
                path: rules.source.clone(),
                detail: format!("rule {i} asked for, {} held", rules.rules.len()),
            })
    }

    fn priors(&self) -> &Priors {
        &self.priors
    }
}

/// Rules filed on disk ([`RuleStore`]): each record reads the rules it can use, at most
/// `batch` at a time, in rule order, and the evidence of its findings by rule index.
pub struct Stored<'a> {
    store: &'a RuleStore,
    header: &'a RuleSet,
    catalog: &'a (dyn RuleCatalog + Sync),
    total: usize,
    batch: usize,
    priors: Arc<Priors>,
    /// Chunks of rules held at once, and the most at any time.
    live: AtomicUsize,
    max: AtomicUsize,
}

impl<'a> Stored<'a> {
    /// `header` gives the symbols and names, `catalog` lists the `total` rules in order,
    /// `priors` are their body-less rules'.
    pub fn new(
        store: &'a RuleStore,
        header: &'a RuleSet,
        catalog: &'a (dyn RuleCatalog + Sync),
        total: usize,
        batch: usize,
        priors: Arc<Priors>,
    ) -> Self {
        Self {
            store,
            header,
            catalog,
            total,
            batch: batch.max(1),
            priors,
            live: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
        }
    }

    /// The rules of a [`RuleSource`] that filed them.
    pub fn of(source: &'a RuleSource, store: &'a RuleStore) -> Self {
        Self::new(
            store,
            source.header(),
            source,
            source.len(),
            source.batch_size(),
            source.priors().clone(),
        )
    }

    /// The most chunks of rules held at once so far.
    pub fn max_chunks(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    fn io(&self, source: std::io::Error) -> RulesError {
        self.header.store_error(source)
    }

    /// Reads the rules that may apply to `g`, `batch` at a time in rule order, and hands each
    /// chunk to `f` with the chunk's indices in the whole set.
    fn each_chunk(
        &self,
        g: &Graph<'_>,
        mut f: impl FnMut(&RuleSet, &[u32]),
    ) -> Result<(), RulesError> {
        let slots = store_candidates(self.store, g).map_err(|e| self.io(e))?;
        for chunk in slots.chunks(self.batch) {
            // Checking needs the rules and symbols only: names and ids come from the header.
            let set = RuleSet {
                symbols: self.header.symbols.clone(),
                rules: self.store.read(chunk).map_err(|e| self.io(e))?,
                ..RuleSet::default()
            };
            let ids: Vec<u32> = chunk.iter().map(|s| s.rule).collect();
            let now = self.live.fetch_add(1, Ordering::SeqCst) + 1;
            self.max.fetch_max(now, Ordering::SeqCst);
            f(&set, &ids);
            self.live.fetch_sub(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

impl RuleHome for Stored<'_> {
    fn header(&self) -> &RuleSet {
        self.header
    }

    fn total(&self) -> usize {
        self.total
    }

    fn catalog(&self) -> &dyn RuleCatalog {
        self.catalog
    }

    fn check_into(
        &self,
        check: &mut RecordCheck,
        g: &Graph<'_>,
        opts: &Options,
    ) -> Result<(), RulesError> {
        self.each_chunk(g, |set, ids| {
            check_chunk(&Engine::unindexed(set), Some(ids), check, g, opts);
        })
    }

    fn check_rows_into(
        &self,
        checks: &mut [RecordCheck],
        g: &Graph<'_>,
        rows: &[Vec<EntId>],
        opts: &Options,
    ) -> Result<(), RulesError> {
        self.each_chunk(g, |set, ids| {
            let candidates = Engine::unindexed(set).candidates(g);
            check_rows_chunk(set, &candidates, Some(ids), checks, g, rows, opts);
        })
    }

    fn fetch(&self, i: u32) -> Result<Arc<Rule>, RulesError> {
        self.store.fetch(i).map(Arc::new).map_err(|e| self.io(e))
    }

    fn priors(&self) -> &Priors {
        &self.priors
    }
}

/// Checks records against rules wherever they live; object-safe, so that the drivers (a data
/// file, a run's tasks) take any [`Checker`].
pub trait RecordChecker: Sync {
    /// The check of one record: ranked, with the evidence of the findings kept.
    fn check(&self, g: &Graph<'_>) -> Result<Checked, RulesError>;
    /// The checks of the rows of one graph (`rows[i]`: the subjects row `i` owns), each
    /// ranked alone, with the evidence of its findings kept ([`crate::engine::rows`]).
    fn check_rows(&self, g: &Graph<'_>, rows: &[Vec<EntId>]) -> Result<Vec<Checked>, RulesError>;
    /// The symbols graphs are built over, the sources rule ids name, the relation names.
    fn header(&self) -> &RuleSet;
    /// Rules in the whole set.
    fn total(&self) -> usize;
    /// The settings records are checked with.
    fn options(&self) -> &Options;
    /// The rules in order, for rule statistics and health.
    fn catalog(&self) -> &dyn RuleCatalog;

    /// Checks one graph and builds its report.
    fn report(
        &self,
        g: &Graph<'_>,
        record: RecordName,
    ) -> Result<(RecordReport, Vec<Tally>), RulesError> {
        let (header, total, opts) = (self.header(), self.total(), self.options());
        Ok(self.check(g)?.finish(g, header, total, opts, record))
    }
}

/// A record's check in its steps over rules that live in `H`.
pub struct Checker<H> {
    home: H,
    opts: Options,
}

impl<H: RuleHome> Checker<H> {
    /// A checker of records against the rules in `home`, with `opts`.
    pub fn new(home: H, opts: Options) -> Self {
        Self { home, opts }
    }

    /// Where the rules live.
    pub fn home(&self) -> &H {
        &self.home
    }
}

impl<H: RuleHome> RecordChecker for Checker<H> {
    fn check(&self, g: &Graph<'_>) -> Result<Checked, RulesError> {
        let mut check = RecordCheck::new();
        self.home.check_into(&mut check, g, &self.opts)?;
        check
            .rank(g, &self.opts, self.home.priors(), |i| self.home.fetch(i))?
            .evidence(g, |i| self.home.fetch(i))
    }

    fn check_rows(&self, g: &Graph<'_>, rows: &[Vec<EntId>]) -> Result<Vec<Checked>, RulesError> {
        let mut checks: Vec<RecordCheck> = rows.iter().map(|_| RecordCheck::new()).collect();
        self.home
            .check_rows_into(&mut checks, g, rows, &self.opts)?;
        let finish = |check: RecordCheck| -> Result<Checked, RulesError> {
            check
                .rank(g, &self.opts, self.home.priors(), |i| self.home.fetch(i))?
                .evidence(g, |i| self.home.fetch(i))
        };
        if self.opts.parallel_rules {
            checks.into_par_iter().map(finish).collect()
        } else {
            checks.into_iter().map(finish).collect()
        }
    }

    fn header(&self) -> &RuleSet {
        self.home.header()
    }

    fn total(&self) -> usize {
        self.home.total()
    }

    fn options(&self) -> &Options {
        &self.opts
    }

    fn catalog(&self) -> &dyn RuleCatalog {
        self.home.catalog()
    }
}

/// The checker for a [`RuleSource`]: its rules in memory, or read per record from its store.
pub enum SourceChecker<'a> {
    /// Every rule held in memory.
    Loaded(Checker<InMemory<'a>>),
    /// The rules filed on disk, read per record.
    Stored(Checker<Stored<'a>>),
}

impl<'a> SourceChecker<'a> {
    /// `None` when the rules are neither in memory nor filed (a source opened only to list
    /// its rules).
    pub fn new(source: &'a RuleSource, opts: Options) -> Option<Self> {
        match source.store() {
            _ if source.in_memory() => Some(Self::Loaded(Checker::new(
                InMemory::with_priors(source.header(), source.priors().clone()),
                opts,
            ))),
            Some(store) => Some(Self::Stored(Checker::new(Stored::of(source, store), opts))),
            None => None,
        }
    }

    /// The checker, whichever home its rules have.
    pub fn get(&self) -> &dyn RecordChecker {
        match self {
            Self::Loaded(v) => v,
            Self::Stored(s) => s,
        }
    }

    /// The most chunks of rules held at once (0 with the rules in memory).
    pub fn max_chunks(&self) -> usize {
        match self {
            Self::Loaded(_) => 0,
            Self::Stored(s) => s.home().max_chunks(),
        }
    }
}
