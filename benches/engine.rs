//! Criterion benchmarks: rule parsing and checking.
//!
//! Always run on the sample data in `data/`. When `../shared/data` is present (the workplace's
//! benchmark data) they also cover the headline case (`pff/test.json` x `pff/rules-1200`) and
//! the FB15k-237 rules file. `cargo bench --bench engine`.

use std::hint::black_box;
use std::path::{Path, PathBuf};

use criterion::{Criterion, criterion_group, criterion_main};
use pff::engine::{CheckOptions, Engine};
use pff::rules::{RuleSet, load_rules};
use pff::triples::GraphBuilder;
use pff::triples::json::{Mapping, parse};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

fn shared(p: &str) -> Option<PathBuf> {
    let path = repo("../shared/data").join(p);
    path.exists().then_some(path)
}

fn check_record(c: &mut Criterion, name: &str, rules: &RuleSet, record: &Path) {
    let text = std::fs::read(record).expect("record file");
    // A .json file is one record; of a .jsonl file take the first line.
    let doc = if record.extension().is_some_and(|e| e == "json") {
        &text[..]
    } else {
        text.split(|&b| b == b'\n').next().unwrap_or(&text)
    };
    let value = parse(doc).expect("valid JSON");
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

fn benches(c: &mut Criterion) {
    let sample_rules = load_rules(&repo("data/rules.txt")).expect("sample rules");
    check_record(
        c,
        "sample record x 36 rules",
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
    }
}

criterion_group!(engine, benches);
criterion_main!(engine);
