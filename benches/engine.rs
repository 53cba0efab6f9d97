//! Criterion benchmarks: rule parsing and checking.
//!
//! Always run on the sample data in `data/`. When `../shared/data` is present (the workplace's
//! benchmark data) they also cover the headline case (`pff/test.json` x `pff/rules-1200`) and
//! the FB15k-237 rules file. `cargo bench --bench engine`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use pff::check::{Checker, InMemory, Options, RecordChecker, Stored};
use pff::engine::{CheckOptions, Engine};
use pff::rules::store::RuleStore;
use pff::rules::{Priors, RuleSet, load_rules};
use pff::triples::Mapping;
use pff::triples::json::parse;
use pff::triples::{Graph, GraphBuilder};
use pff::triples::{RecordId, RecordName};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn shared(p: &str) -> Option<PathBuf> {
    let path = repo("../shared/data").join(p);
    path.exists().then_some(path)
}

/// The text of one record: a .json file is one record; of a .jsonl file, the first line.
fn first_record(record: &Path) -> Vec<u8> {
    let text = std::fs::read(record).expect("record file");
    if record.extension().is_some_and(|e| e == "json") {
        text
    } else {
        text.split(|&b| b == b'\n').next().unwrap_or(&text).to_vec()
    }
}

fn check_record(c: &mut Criterion, name: &str, rules: &RuleSet, record: &Path) {
    let doc = first_record(record);
    let value = parse(&doc).expect("valid JSON");
    let engine = Engine::new(rules);
    c.bench_function(name, |b| {
        b.iter(|| {
            let mut g = GraphBuilder::new(&rules.symbols);
            Mapping::default()
                .record(&value, 0, &mut g)
                .expect("object");
            let g = g.finish();
            black_box(engine.check(&g, CheckOptions::default()).outcomes.len())
        })
    });
}

/// One record's whole report (check, rank, evidence, findings) with the rules in memory and
/// with the rules read from a store on disk, 1024 at a time (what `pff run` does beyond
/// `--rule-batch`).
fn report_in_memory_and_from_store(c: &mut Criterion, name: &str, rules: &RuleSet, record: &Path) {
    let doc = first_record(record);
    let value = parse(&doc).expect("valid JSON");
    let mut b = GraphBuilder::new(&rules.symbols);
    Mapping::default()
        .record(&value, 0, &mut b)
        .expect("object");
    let g = b.finish();
    let opts = Options {
        parallel_rules: false,
        max_violations: 1000,
        ..Options::default()
    };
    let tmp = std::env::temp_dir().join(format!("pff-bench-{}", std::process::id()));
    let store = RuleStore::build(&tmp, rules).expect("store");
    let in_memory = Checker::new(InMemory::new(rules), opts.clone());
    let stored = Checker::new(
        Stored::new(
            &store,
            rules,
            rules,
            rules.rules.len(),
            1024,
            std::sync::Arc::new(Priors::of(&rules.rules)),
        ),
        opts.clone(),
    );
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.bench_function("rules in memory", |b| {
        b.iter(|| black_box(report(&in_memory, &g)))
    });
    group.bench_function("rules from the store", |b| {
        b.iter(|| black_box(report(&stored, &g)))
    });
    group.finish();
    drop(store);
    let _ = std::fs::remove_dir_all(&tmp);
}

/// A record's whole report through the production checker; its number of findings.
fn report(checker: &dyn RecordChecker, g: &Graph<'_>) -> usize {
    let record = RecordName {
        id: RecordId { index: 0, line: 1 },
        name: "r".into(),
    };
    let (report, _) = checker.report(g, record).expect("store read");
    report.findings.len()
}

fn benches(c: &mut Criterion) {
    let sample_rules = load_rules(&repo("data/rules.txt")).expect("sample rules");
    check_record(
        c,
        "sample record x 36 rules",
        &sample_rules,
        &repo("data/records.jsonl"),
    );
    report_in_memory_and_from_store(
        c,
        "report: sample record x 36 rules",
        &sample_rules,
        &repo("data/records.jsonl"),
    );

    if let Some(path) = shared("kg/fb15k237/rules") {
        let mut g = c.benchmark_group("parse");
        g.sample_size(10);
        g.bench_function("fb15k237 rules (170k)", |b| {
            b.iter(|| black_box(load_rules(&path).expect("parses").rules.len()))
        });
        g.finish();
    }
    if let (Some(rules), Some(record)) = (shared("pff/rules-1200"), shared("pff/test.json")) {
        let rules = load_rules(&rules).expect("parses");
        check_record(
            c,
            "test.json x rules-1200 (150k rules), check only",
            &rules,
            &record,
        );
        report_in_memory_and_from_store(
            c,
            "report: test.json x rules-1200 (150k rules)",
            &rules,
            &record,
        );
    }
}

criterion_group!(engine, benches);
criterion_main!(engine);
