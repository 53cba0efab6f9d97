//! Checking a data file against a rule set: read records, map them to triples, run the
//! engine, turn outcomes into reports. Records stream through in bounded chunks, checked in
//! parallel and handed on in input order.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::Path;

use rayon::prelude::*;

use crate::engine::{CheckOptions, Engine, RuleOutcome, witness_triples};
use crate::report::{
    Finding, RecordReport, RuleCounts, SeverityCounts, SeverityCuts, Summary, Triple,
};
use crate::rules::{Rule, RuleSet};
use crate::triples::json::{self, Mapping};
use crate::triples::{DataError, Format, Graph, GraphBuilder, tsv};

/// Records read and checked together: bounds memory whatever the file size.
pub const CHUNK_RECORDS: usize = 64;

/// How to check and what to keep.
#[derive(Debug, Clone)]
pub struct Options {
    /// Overrides the format the file name implies.
    pub input_format: Option<Format>,
    pub mapping: Mapping,
    pub severity: SeverityCuts,
    /// Build findings (false: counts only, e.g. for `--rule-stats` alone).
    pub findings: bool,
    /// Findings kept per rule per record.
    pub max_violations_per_rule: usize,
    /// Findings kept per record (the most confident).
    pub max_violations: usize,
    /// Check one record's rules in parallel (false when records are already spread over
    /// workers, as in `pff run`).
    pub parallel_rules: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            input_format: None,
            mapping: Mapping::default(),
            severity: SeverityCuts::default(),
            findings: true,
            max_violations_per_rule: usize::MAX,
            max_violations: usize::MAX,
            parallel_rules: true,
        }
    }
}

/// Why a validation stopped.
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error("cannot write the report")]
    Output(#[source] io::Error),
}

/// What [`Validator::run`] hands on.
#[derive(Debug)]
pub enum Event<'a> {
    /// The data is open and readable; records follow.
    Begin,
    Record(&'a RecordReport),
}

/// `predicted` and `correct` per rule, summed over records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleStats {
    pub counts: Vec<(u64, u64)>,
}

impl RuleStats {
    pub fn new(rules: usize) -> Self {
        Self {
            counts: vec![(0, 0); rules],
        }
    }

    pub fn add(&mut self, outcomes: &[RuleOutcome]) {
        for o in outcomes {
            let c = &mut self.counts[o.rule as usize];
            c.0 += o.predicted;
            c.1 += o.correct;
        }
    }

    /// Writes an AnyBURL rules file with the recomputed counts, one line per rule in order.
    pub fn write(&self, rules: &RuleSet, out: &mut impl Write) -> io::Result<()> {
        for (rule, &(p, c)) in rules.rules.iter().zip(&self.counts) {
            let conf = if p == 0 { 0.0 } else { c as f64 / p as f64 };
            writeln!(out, "{p}\t{c}\t{conf:?}\t{}", rule.text)?;
        }
        Ok(())
    }
}

/// A rule set ready to check records.
pub struct Validator<'r> {
    engine: Engine<'r>,
    opts: Options,
}

impl<'r> Validator<'r> {
    pub fn new(rules: &'r RuleSet, opts: Options) -> Self {
        Self {
            engine: Engine::new(rules),
            opts,
        }
    }

    pub fn rules(&self) -> &'r RuleSet {
        self.engine.rules()
    }

    /// Checks one graph and builds its report.
    pub fn check_graph(
        &self,
        g: &Graph<'_>,
        index: usize,
        line: usize,
        name: String,
    ) -> (RecordReport, Vec<RuleOutcome>) {
        let rules = self.rules();
        // A record keeps at most `max_violations` findings, so no rule needs to hand over
        // more than that (its first ones are its best: ties within a rule keep discovery order).
        let per_rule = self
            .opts
            .max_violations_per_rule
            .min(self.opts.max_violations);
        let opts = CheckOptions {
            collect_violations: self.opts.findings && per_rule > 0,
            max_violations_per_rule: per_rule,
        };
        let res = if self.opts.parallel_rules {
            self.engine.check(g, opts)
        } else {
            self.engine.check_sequential(g, opts)
        };
        let mut counts = RuleCounts {
            total: rules.rules.len(),
            ..RuleCounts::default()
        };
        let mut by_severity = SeverityCounts::default();
        let mut kept: Vec<(&Rule, &crate::engine::Violation)> = Vec::new();
        for o in &res.outcomes {
            let rule = &rules.rules[o.rule as usize];
            let n = o.violation_count();
            if n == 0 {
                counts.satisfied += 1;
                continue;
            }
            counts.violated += 1;
            by_severity.add(self.opts.severity.of(rule.confidence), n);
            kept.extend(o.violations.iter().map(|v| (rule, v)));
        }
        counts.not_applicable = counts.total - counts.violated - counts.satisfied;
        // Most confident first; ties by rule line, then discovery order (stable sort).
        kept.sort_by(|a, b| {
            b.0.confidence
                .total_cmp(&a.0.confidence)
                .then(a.0.line.cmp(&b.0.line))
        });
        let truncated =
            (kept.len() as u64) < by_severity.total() || kept.len() > self.opts.max_violations;
        kept.truncate(self.opts.max_violations);
        let findings = kept
            .into_iter()
            .map(|(rule, v)| self.finding(g, rule, v))
            .collect();
        let report = RecordReport {
            index,
            line,
            name: Some(name),
            error: None,
            triples: g.len(),
            rules: counts,
            violations: by_severity,
            findings,
            truncated: truncated && self.opts.findings,
        };
        (report, res.outcomes)
    }

    fn finding(&self, g: &Graph<'_>, rule: &Rule, v: &crate::engine::Violation) -> Finding {
        let rules = self.rules();
        let name = |id| g.entity_name(id).to_string();
        let rel = |id| rules.relation(id).to_string();
        let missing = Triple {
            subject: name(v.s),
            relation: rel(rule.head.rel),
            object: name(v.o),
        };
        let evidence: Vec<Triple> = witness_triples(rule, &v.binding)
            .into_iter()
            .map(|(s, r, o)| Triple {
                subject: name(s),
                relation: rel(r),
                object: name(o),
            })
            .collect();
        let bindings: BTreeMap<String, String> = rule
            .vars
            .iter()
            .zip(v.binding.iter())
            .map(|(&var, &e)| (((b'A' + var) as char).to_string(), name(e)))
            .collect();
        let severity = self.opts.severity.of(rule.confidence);
        let message = format!(
            "{} has no `{}` {} although {:.0}% of the data that matches this rule's body has it",
            missing.subject,
            missing.relation,
            missing.object,
            rule.confidence * 100.0
        );
        Finding {
            severity,
            message,
            rule_id: rules.rule_id(rule),
            rule: rule.text.to_string(),
            confidence: rule.confidence,
            mined_predicted: rule.predicted,
            mined_correct: rule.correct,
            focus: missing.subject.clone(),
            missing,
            bindings,
            evidence,
        }
    }

    /// Validates a data file, handing [`Event::Begin`] to `sink` once the data is open and
    /// readable, then each record's report in input order.
    pub fn run(
        &self,
        path: &Path,
        mut sink: impl FnMut(Event<'_>) -> io::Result<()>,
    ) -> Result<(Summary, RuleStats), ValidateError> {
        let shown = path.display().to_string();
        let format = match self.opts.input_format.or_else(|| Format::from_path(path)) {
            Some(f) => f,
            None => return Err(DataError::UnknownFormat { path: shown }.into()),
        };
        if path.is_dir() {
            return Err(DataError::IsDirectory { path: shown }.into());
        }
        let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
        let mut summary = Summary {
            rules_total: self.rules().rules.len(),
            ..Summary::default()
        };
        let mut stats = RuleStats::new(self.rules().rules.len());
        let mut begun = false;
        let mut emit = |(report, outcomes): (RecordReport, Vec<RuleOutcome>)| {
            if !std::mem::replace(&mut begun, true) {
                sink(Event::Begin).map_err(ValidateError::Output)?;
            }
            summary.add(&report);
            stats.add(&outcomes);
            sink(Event::Record(&report)).map_err(ValidateError::Output)
        };
        match format {
            Format::Tsv => {
                let mut b = GraphBuilder::new(&self.rules().symbols);
                tsv::read(&shown, BufReader::with_capacity(1 << 20, file), &mut b)?;
                let g = b.finish();
                emit(self.check_graph(&g, 0, 1, shown.clone()))?;
            }
            Format::Json => {
                let mut text = Vec::new();
                BufReader::new(file)
                    .read_to_end(&mut text)
                    .map_err(|e| DataError::io(&shown, e))?;
                let doc = json::parse(&text).map_err(|e| e.into_data_error(&shown, &text, 1))?;
                let records: Vec<&json::Json<'_>> = match &doc {
                    json::Json::Arr(items) => items.iter().collect(),
                    other => vec![other],
                };
                for (c, chunk) in records.chunks(CHUNK_RECORDS).enumerate() {
                    let reports: Vec<_> = chunk
                        .par_iter()
                        .enumerate()
                        .map(|(i, v)| self.check_value(&shown, v, c * CHUNK_RECORDS + i, 1))
                        .collect();
                    for r in reports {
                        emit(r)?;
                    }
                }
            }
            Format::Jsonl => {
                let mut reader = BufReader::with_capacity(1 << 20, file);
                let mut line_no = 0usize;
                let mut index = 0usize;
                loop {
                    let mut chunk: Vec<(usize, usize, Vec<u8>)> = Vec::new();
                    while chunk.len() < CHUNK_RECORDS {
                        let mut buf = Vec::new();
                        let n = reader
                            .read_until(b'\n', &mut buf)
                            .map_err(|e| DataError::io(&shown, e))?;
                        if n == 0 {
                            break;
                        }
                        line_no += 1;
                        if buf.iter().all(u8::is_ascii_whitespace) {
                            continue;
                        }
                        chunk.push((index, line_no, buf));
                        index += 1;
                    }
                    if chunk.is_empty() {
                        break;
                    }
                    let reports: Vec<_> = chunk
                        .par_iter()
                        .map(|(index, line, text)| match json::parse(text) {
                            Ok(v) => self.check_value(&shown, &v, *index, *line),
                            Err(e) => {
                                let err = e.into_data_error(&shown, text, *line);
                                (
                                    RecordReport::failed(*index, *line, err.to_string()),
                                    Vec::new(),
                                )
                            }
                        })
                        .collect();
                    for r in reports {
                        emit(r)?;
                    }
                }
            }
        }
        if !begun {
            sink(Event::Begin).map_err(ValidateError::Output)?;
        }
        summary.rules_violated = stats.counts.iter().filter(|(p, c)| p > c).count();
        Ok((summary, stats))
    }

    /// Checks a whole data file held in memory (one task of `pff run`): its reports in order
    /// and the per-rule counts, or the error that made it unreadable as a whole.
    pub fn check_bytes(
        &self,
        label: &str,
        format: Format,
        bytes: &[u8],
    ) -> Result<(Vec<RecordReport>, RuleStats), DataError> {
        let mut reports = Vec::new();
        let mut stats = RuleStats::new(self.rules().rules.len());
        let mut take = |(r, o): (RecordReport, Vec<RuleOutcome>)| {
            stats.add(&o);
            reports.push(r);
        };
        match format {
            Format::Tsv => {
                let mut b = GraphBuilder::new(&self.rules().symbols);
                tsv::read(label, bytes, &mut b)?;
                take(self.check_graph(&b.finish(), 0, 1, label.to_string()));
            }
            Format::Json => {
                let doc = json::parse(bytes).map_err(|e| e.into_data_error(label, bytes, 1))?;
                match &doc {
                    json::Json::Arr(items) => {
                        for (i, v) in items.iter().enumerate() {
                            take(self.check_value(label, v, i, 1));
                        }
                    }
                    other => take(self.check_value(label, other, 0, 1)),
                }
            }
            Format::Jsonl => {
                let mut index = 0;
                for (n, line) in bytes.split(|&b| b == b'\n').enumerate() {
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    let v = json::parse(line).map_err(|e| e.into_data_error(label, line, n + 1))?;
                    take(self.check_value(label, &v, index, n + 1));
                    index += 1;
                }
            }
        }
        Ok((reports, stats))
    }

    fn check_value(
        &self,
        path: &str,
        v: &json::Json<'_>,
        index: usize,
        line: usize,
    ) -> (RecordReport, Vec<RuleOutcome>) {
        let mut b = GraphBuilder::new(&self.rules().symbols);
        match self.opts.mapping.record(v, index, &mut b) {
            Ok(name) => self.check_graph(&b.finish(), index, line, name),
            Err(found) => {
                let e = DataError::NotAnObject {
                    path: path.to_string(),
                    line,
                    index,
                    found,
                };
                (RecordReport::failed(index, line, e.to_string()), Vec::new())
            }
        }
    }
}

/// Reads a data file into triples in arrival order (for `pff triples`), calling `sink` once
/// per record with its builder.
pub fn for_each_record_triples(
    path: &Path,
    format: Option<Format>,
    mapping: &Mapping,
    mut sink: impl FnMut(&GraphBuilder<'_>) -> io::Result<()>,
) -> Result<(), ValidateError> {
    let shown = path.display().to_string();
    let Some(format) = format.or_else(|| Format::from_path(path)) else {
        return Err(DataError::UnknownFormat { path: shown }.into());
    };
    if path.is_dir() {
        return Err(DataError::IsDirectory { path: shown }.into());
    }
    let syms = crate::triples::no_symbols();
    let file = File::open(path).map_err(|e| DataError::io(&shown, e))?;
    let mut reader = BufReader::with_capacity(1 << 20, file);
    let record = |v: &json::Json<'_>, index: usize, line: usize| {
        let mut b = GraphBuilder::new(syms);
        mapping
            .record(v, index, &mut b)
            .map_err(|found| DataError::NotAnObject {
                path: shown.clone(),
                line,
                index,
                found,
            })?;
        Ok::<_, DataError>(b)
    };
    match format {
        Format::Tsv => {
            let mut b = GraphBuilder::new(syms);
            tsv::read(&shown, reader, &mut b)?;
            sink(&b).map_err(ValidateError::Output)?;
        }
        Format::Json => {
            let mut text = Vec::new();
            reader
                .read_to_end(&mut text)
                .map_err(|e| DataError::io(&shown, e))?;
            let doc = json::parse(&text).map_err(|e| e.into_data_error(&shown, &text, 1))?;
            let records: Vec<&json::Json<'_>> = match &doc {
                json::Json::Arr(items) => items.iter().collect(),
                other => vec![other],
            };
            for (i, v) in records.into_iter().enumerate() {
                sink(&record(v, i, 1)?).map_err(ValidateError::Output)?;
            }
        }
        Format::Jsonl => {
            let mut buf = Vec::new();
            let (mut line, mut index) = (0, 0);
            loop {
                buf.clear();
                if reader
                    .read_until(b'\n', &mut buf)
                    .map_err(|e| DataError::io(&shown, e))?
                    == 0
                {
                    break;
                }
                line += 1;
                if buf.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let v = json::parse(&buf).map_err(|e| e.into_data_error(&shown, &buf, line))?;
                sink(&record(&v, index, line)?).map_err(ValidateError::Output)?;
                index += 1;
            }
        }
    }
    Ok(())
}
