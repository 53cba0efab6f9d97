//! The engine against a naive matcher on random small graphs and random rules of every shape.

use pff::engine::rows::RowIndex;
use pff::engine::{
    CheckOptions, Engine, Scratch, Violation, check_rule, naive, witness, witness_triples,
};
use pff::rules::{Priors, RuleSet};
use pff::triples::{GraphBuilder, TripleSink};
use proptest::prelude::*;
use std::sync::Arc;

const ENTITIES: &[&str] = &["e0", "e1", "e2", "e3", "e4"];
const RELATIONS: &[&str] = &["r0", "r1", "r2"];

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec!["X", "Y", "A", "B"]).prop_map(String::from),
        2 => prop::sample::select(ENTITIES.to_vec()).prop_map(String::from),
        1 => Just("me_myself_i".to_string()),
    ]
}

fn atom() -> impl Strategy<Value = String> {
    (prop::sample::select(RELATIONS.to_vec()), term(), term())
        .prop_map(|(r, s, o)| format!("{r}({s},{o})"))
}

fn rule_text() -> impl Strategy<Value = String> {
    (atom(), prop::collection::vec(atom(), 0..=3)).prop_map(|(h, b)| {
        if b.is_empty() {
            format!("{h} <= ")
        } else {
            format!("{h} <= {}", b.join(", "))
        }
    })
}

fn graph() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    prop::collection::vec(
        (0..ENTITIES.len(), 0..RELATIONS.len(), 0..ENTITIES.len()),
        0..25,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn engine_agrees_with_naive_matcher(rule in rule_text(), triples in graph()) {
        // Random text is often not a valid rule (a head variable missing from the body, an
        // atom without a variable); those are parser errors, covered elsewhere.
        let Ok(rs) = RuleSet::from_text("p.rules", &rule) else { return Ok(()) };
        let mut b = GraphBuilder::new(&rs.symbols);
        for &(s, r, o) in &triples {
            b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
        }
        let g = b.finish();
        let r = &rs.rules[0];

        let expected = naive::predictions(r, &g);
        let head = r.head.rel;
        let expected_correct = expected.iter().filter(|&&(s, o)| g.contains(s, head, o)).count() as u64;
        let mut expected_violations: Vec<_> =
            expected.iter().filter(|&&(s, o)| !g.contains(s, head, o)).copied().collect();
        expected_violations.sort_unstable();

        let out = check_rule(0, r, &g, CheckOptions::default(), &mut Scratch::default());
        prop_assert_eq!(out.predicted, expected.len() as u64, "rule {}", rule);
        prop_assert_eq!(out.correct, expected_correct, "rule {}", rule);
        let mut got: Vec<_> = out.violations.iter().map(|v| (v.s, v.o)).collect();
        got.sort_unstable();
        prop_assert_eq!(&got, &expected_violations, "rule {}", rule);

        // Every witness grounds the body and respects object identity; so does the witness
        // found with the head bound (the one reports show).
        let bound: Vec<_> = out
            .violations
            .iter()
            .map(|v| witness(r, &g, v.s, v.o).map(|b| Violation { s: v.s, o: v.o, binding: b }))
            .collect();
        prop_assert!(bound.iter().all(Option::is_some), "rule {}: no bound witness", rule);
        for v in out.violations.iter().chain(bound.iter().flatten()) {
            for (s, rel, o) in witness_triples(r, &v.binding) {
                prop_assert!(g.contains(s, rel, o), "witness of {} not in graph", rule);
            }
            let mut vals = v.binding.to_vec();
            vals.sort_unstable();
            vals.dedup();
            prop_assert_eq!(vals.len(), v.binding.len());
            prop_assert!(v.binding.iter().all(|x| !r.consts.contains(x)));
        }

        // The indexed, parallel entry point agrees with the single-rule one.
        let res = Engine::new(&rs).check(&g, CheckOptions::default());
        let via_index = res.outcomes.first().map_or(0, |o| o.predicted);
        prop_assert_eq!(via_index, out.predicted, "index dropped an applicable rule: {}", rule);
    }

    #[test]
    fn rule_parser_never_panics(line in "\\PC{0,60}") {
        let _ = RuleSet::from_text("fuzz.rules", &line);
    }
}

#[test]
fn generator_yields_mostly_valid_rules() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let valid = (0..1000)
        .filter(|_| {
            let text = rule_text().new_tree(&mut runner).unwrap().current();
            RuleSet::from_text("p", &text).is_ok()
        })
        .count();
    eprintln!("{valid}/1000 generated rules are valid");
    assert!(
        valid > 200,
        "only {valid}/1000 generated rules parse: the property test would test little"
    );
}

fn cyclic_rule() -> impl Strategy<Value = String> {
    // Chains X -> ... -> Y of length 1-3, each atom either way round, plus some non-chains.
    (
        1usize..=3,
        prop::collection::vec((0..RELATIONS.len(), any::<bool>()), 3),
        0..RELATIONS.len(),
    )
        .prop_map(|(n, atoms, h)| {
            let vars = ["X", "A", "B", "Y"];
            let path: Vec<&str> = match n {
                1 => vec!["X", "Y"],
                2 => vec!["X", "A", "Y"],
                _ => vec![vars[0], vars[1], vars[2], vars[3]],
            };
            let body: Vec<String> = (0..n)
                .map(|i| {
                    let (r, fwd) = atoms[i];
                    let (s, o) = if fwd {
                        (path[i], path[i + 1])
                    } else {
                        (path[i + 1], path[i])
                    };
                    format!("{}({s},{o})", RELATIONS[r])
                })
                .collect();
            format!("{}(X,Y) <= {}", RELATIONS[h], body.join(", "))
        })
}

fn dense_graph() -> impl Strategy<Value = Vec<(usize, usize, usize)>> {
    prop::collection::vec(
        (0..ENTITIES.len(), 0..RELATIONS.len(), 0..ENTITIES.len()),
        0..45,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// Set-at-a-time counts equal grounding-at-a-time counts (and the naive definition).
    #[test]
    fn set_at_a_time_counts_equal_the_matcher(rule in cyclic_rule(), triples in dense_graph()) {
        let rs = RuleSet::from_text("c.rules", &rule).unwrap();
        let mut b = GraphBuilder::new(&rs.symbols);
        for &(s, r, o) in &triples {
            b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
        }
        let g = b.finish();
        let r = &rs.rules[0];
        prop_assert!(pff::engine::set::chain(r).is_some(), "{rule} is a chain");
        let counts = CheckOptions { collect_violations: false, ..CheckOptions::default() };
        let set = check_rule(0, r, &g, counts, &mut Scratch::default());
        let grounding = check_rule(0, r, &g, CheckOptions { set_at_a_time: false, ..counts }, &mut Scratch::default());
        prop_assert_eq!((set.predicted, set.correct), (grounding.predicted, grounding.correct), "{}", rule);
        let expected = naive::predictions(r, &g);
        prop_assert_eq!(set.predicted, expected.len() as u64, "{}", rule);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1500))]

    /// Rules sharing a chain body are counted together; each still gets its own exact counts.
    #[test]
    fn shared_bodies_count_like_single_rules(
        body in cyclic_rule(),
        heads in prop::collection::vec(0..RELATIONS.len(), 1..4),
        other in rule_text(),
        triples in dense_graph(),
    ) {
        let body = body.split_once(" <= ").unwrap().1.to_string();
        let mut text: String = heads
            .iter()
            .map(|&h| format!("{}(X,Y) <= {body}\n", RELATIONS[h]))
            .collect();
        if RuleSet::from_text("o", &other).is_ok() {
            text.push_str(&other);
            text.push('\n');
        }
        let rs = RuleSet::from_text("s.rules", &text).unwrap();
        let mut b = GraphBuilder::new(&rs.symbols);
        for &(s, r, o) in &triples {
            b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
        }
        let g = b.finish();
        let counts = CheckOptions { collect_violations: false, ..CheckOptions::default() };
        let res = Engine::new(&rs).check(&g, counts);
        for (i, r) in rs.rules.iter().enumerate() {
            let alone = check_rule(i as u32, r, &g, CheckOptions { set_at_a_time: false, ..counts }, &mut Scratch::default());
            let shared = res.outcomes.iter().find(|o| o.rule == i as u32);
            let got = shared.map_or((0, 0), |o| (o.predicted, o.correct));
            prop_assert_eq!(got, (alone.predicted, alone.correct), "rule {} of\n{}", i, text);
        }
        prop_assert!(res.outcomes.windows(2).all(|w| w[0].rule < w[1].rule));
    }
}

/// Valid rules from random lines, as one rules file with mined counts (so confidences and
/// therefore finding weights differ between rules).
fn rule_file() -> impl Strategy<Value = String> {
    prop::collection::vec((rule_text(), 1u32..20, 0u32..20), 1..14).prop_map(|rules| {
        rules
            .into_iter()
            .filter(|(r, _, _)| RuleSet::from_text("one", r).is_ok())
            .map(|(r, p, c)| format!("{p}\t{}\t{}\t{r}\n", c.min(p), c.min(p) as f64 / p as f64))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(600))]

    /// Checking a record against rules filed on disk, its candidates read chunk by chunk (as
    /// `pff run` does with a large rule set), builds the report and the per-rule tallies that
    /// checking the whole set in memory builds: same findings, same scores to the last bit,
    /// same evidence.
    #[test]
    fn rules_read_from_the_store_report_what_the_whole_set_reports(
        text in rule_file(),
        triples in graph(),
        batch in 1usize..5,
        cap in prop_oneof![Just(usize::MAX), 1usize..4],
    ) {
        use pff::check::{Checker, InMemory, Options, RecordChecker, Stored};
        use pff::rules::store::RuleStore;
        use pff::triples::{RecordId, RecordName};
        let Ok(rs) = RuleSet::from_text("p.rules", &text) else { return Ok(()) };
        let mut b = GraphBuilder::new(&rs.symbols);
        for &(s, r, o) in &triples {
            b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
        }
        let g = b.finish();
        let opts = Options { max_violations: cap, parallel_rules: false, ..Options::default() };
        let rec = || RecordName { id: RecordId { index: 0, line: 1 }, name: "rec".into() };
        let whole = Checker::new(InMemory::new(&rs), opts.clone()).report(&g, rec()).unwrap();

        // The rules filed on disk by anchor; the production checker reads the record's
        // candidates in chunks of `batch`.
        let dir = tempfile::TempDir::new().unwrap();
        let store = RuleStore::build(dir.path(), &rs).unwrap();
        let stored = Stored::new(&store, &rs, &rs, rs.rules.len(), batch, Arc::new(Priors::of(&rs.rules)));
        let batched = Checker::new(stored, opts.clone()).report(&g, rec()).unwrap();
        prop_assert_eq!(&batched.0, &whole.0, "rules:\n{}", text);
        // A report streamed finding by finding is the JSON serde writes for it.
        let mut streamed = Vec::new();
        whole.0.write_json_with(&mut streamed, whole.0.findings.iter().cloned()).unwrap();
        prop_assert_eq!(streamed, serde_json::to_vec(&whole.0).unwrap());
        prop_assert_eq!(&batched.1, &whole.1);
    }
}

proptest! {
    /// A finding's score is the same, to the last bit, in whatever order its rules arrive, and
    /// it never falls below its strongest rule's weight nor rises above 1.
    #[test]
    fn scores_do_not_depend_on_the_order_of_the_rules(
        weights in prop::collection::vec(0.0f64..=1.0, 1..40),
        seed in any::<u64>(),
    ) {
        use pff::report::combined_score;
        let mut shuffled = weights.clone();
        // A deterministic shuffle from the seed.
        let mut x = seed | 1;
        for i in (1..shuffled.len()).rev() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let a = combined_score(weights.iter().copied());
        prop_assert_eq!(a.to_bits(), combined_score(shuffled).to_bits());
        let strongest = weights.iter().copied().fold(0.0, f64::max);
        prop_assert!(a >= strongest - 1e-12 && a <= 1.0, "{} vs {}", a, strongest);
    }
}

/// `lines` permuted by `seed` (Fisher-Yates with a small LCG).
fn permuted(lines: &[String], seed: u64) -> Vec<String> {
    let mut shuffled = lines.to_vec();
    let mut x = seed | 1;
    for i in (1..shuffled.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        shuffled.swap(i, (x >> 33) as usize % (i + 1));
    }
    shuffled
}

/// The report of one record of `triples` against the rules `lines`: in memory, or read from
/// the store `batch` rules at a time.
fn report_of(
    lines: &[String],
    triples: &[(String, String, String)],
    stored: Option<usize>,
) -> pff::report::RecordReport {
    use pff::check::{Checker, InMemory, Options, RecordChecker, Stored};
    use pff::rules::store::RuleStore;
    use pff::triples::{RecordId, RecordName};
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    let rs = RuleSet::from_text("p.rules", &text).unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for (s, r, o) in triples {
        b.triple(s, r, o);
    }
    let g = b.finish();
    let opts = Options {
        parallel_rules: false,
        ..Options::default()
    };
    let rec = RecordName {
        id: RecordId { index: 0, line: 1 },
        name: "rec".into(),
    };
    let dir = tempfile::TempDir::new().unwrap();
    match stored {
        None => {
            Checker::new(InMemory::new(&rs), opts)
                .report(&g, rec)
                .unwrap()
                .0
        }
        Some(batch) => {
            let store = RuleStore::build(dir.path(), &rs).unwrap();
            let home = Stored::new(
                &store,
                &rs,
                &rs,
                rs.rules.len(),
                batch,
                Arc::new(Priors::of(&rs.rules)),
            );
            Checker::new(home, opts).report(&g, rec).unwrap().0
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// The ranking does not depend on the order of the rules in their file: the same findings
    /// come in the same order with the same scores (to the last bit), kinds and severities,
    /// whatever order the rules were mined in, in memory or read from the store in chunks.
    #[test]
    fn the_ranking_does_not_depend_on_rule_order_or_chunking(
        lines in rule_file().prop_map(|t| t.lines().map(String::from).collect::<Vec<_>>()),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        triples in graph(),
        batch in 1usize..5,
    ) {
        if lines.is_empty() {
            return Ok(());
        }
        let shuffled = permuted(&lines, order);
        let triples: Vec<(String, String, String)> = triples
            .iter()
            .map(|&(s, r, o)| (ENTITIES[s].into(), RELATIONS[r].into(), ENTITIES[o].into()))
            .collect();
        let ranking = |lines: &[String], stored: Option<usize>| {
            let report = report_of(lines, &triples, stored);
            report
                .findings
                .iter()
                .map(|f| {
                    (
                        f.missing.to_string(),
                        f.score.to_bits(),
                        f.kind,
                        f.severity,
                        f.present.clone(),
                        f.rule_count,
                        (f.focus.clone(), f.culprit.as_ref().map(ToString::to_string), f.explains.len()),
                    )
                })
                .collect::<Vec<_>>()
        };
        let expected = ranking(&lines, None);
        prop_assert_eq!(&ranking(&shuffled, None), &expected);
        prop_assert_eq!(&ranking(&shuffled, Some(batch)), &expected);
    }
}

/// Rules shaped like the ones culprits come from: a value two hops away predicts a value here
/// (`hK(X,cI) <= link(X,A), attr(A,cJ)`), with tied confidences.
fn culprit_rules() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        (
            0..2usize,
            0..3usize,
            0..3usize,
            prop::sample::select(vec!["0.8", "0.9"]),
        ),
        1..12,
    )
    .prop_map(|rules| {
        rules
            .into_iter()
            .map(|(k, i, j, conf)| {
                format!("10\t8\t{conf}\th{k}(X,c{i}) <= link(X,A), attr(A,c{j})")
            })
            .collect()
    })
}

/// Four nodes linked to a shared node `p` (and a few more links), attributes on `p` and on the
/// others, and values for the predicted relations: conflicts on several nodes through `p`.
fn culprit_graph() -> impl Strategy<Value = Vec<(String, String, String)>> {
    let t = |s: String, r: &str, o: String| (s, r.to_string(), o);
    let edge =
        (0..5usize, 0..5usize).prop_map(move |(a, b)| t(format!("n{a}"), "link", format!("n{b}")));
    let value = (
        0..5usize,
        prop::sample::select(vec!["attr", "h0", "h1"]),
        0..3usize,
    )
        .prop_map(move |(a, r, c)| t(format!("n{a}"), r, format!("c{c}")));
    let on_p = (0..3usize).prop_map(move |c| t("p".into(), "attr", format!("c{c}")));
    (
        prop::collection::vec(edge, 0..4),
        prop::collection::vec(value, 1..12),
        prop::collection::vec(on_p, 1..3),
    )
        .prop_map(move |(e, v, p)| {
            let mut all: Vec<_> = (0..4)
                .map(|i| t(format!("n{i}"), "link", "p".into()))
                .collect();
            all.extend(e);
            all.extend(v);
            all.extend(p);
            all
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Culprits across nodes do not depend on the order of the rules or on chunking either:
    /// the same culprit findings, scores and explained conflicts.
    #[test]
    fn culprits_do_not_depend_on_rule_order_or_chunking(
        lines in culprit_rules(),
        order in Just(()).prop_perturb(|_, mut rng| rng.random::<u64>()),
        triples in culprit_graph(),
        batch in 1usize..4,
    ) {
        let shuffled = permuted(&lines, order);
        let ranking = |lines: &[String], stored: Option<usize>| {
            let report = report_of(lines, &triples, stored);
            report
                .findings
                .iter()
                .map(|f| {
                    let culprit = f.culprit.as_ref().map(ToString::to_string);
                    let explains: Vec<String> = f.explains.iter().map(ToString::to_string).collect();
                    (f.focus.clone(), f.kind, f.score.to_bits(), culprit, explains, f.missing.to_string())
                })
                .collect::<Vec<_>>()
        };
        let expected = ranking(&lines, None);
        prop_assert_eq!(&ranking(&shuffled, None), &expected);
        prop_assert_eq!(&ranking(&shuffled, Some(batch)), &expected);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Issue 23: a compiled rule set (the rules parsed once, filed on disk, opened without
    /// reading their text) reports exactly what its text reports: the same JSON bytes, the
    /// same tallies, whatever the rules, their order and how many of a record's rules are
    /// read at a time.
    #[test]
    fn a_compiled_rule_set_reports_what_its_text_reports(
        text in rule_file(),
        triples in graph(),
        batch in 1usize..5,
    ) {
        use pff::check::{Options, SourceChecker};
        use pff::rules::RuleSource;
        use pff::rules::compiled::{self, Filter};
        use pff::triples::{RecordId, RecordName};
        if RuleSet::from_text("p.rules", &text).is_err() {
            return Ok(());
        }
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("p.rules");
        std::fs::write(&path, &text).unwrap();
        let paths = [path];
        let digest = compiled::digest(&paths, &Filter::all()).unwrap();
        let out = dir.path().join("compiled");
        std::fs::create_dir(&out).unwrap();
        compiled::compile(&paths, Filter::all(), &out, &digest).unwrap();
        let from_text = RuleSource::open(&paths, 0.0, usize::MAX).unwrap();
        let from_compiled = compiled::open(&out, &paths, &digest, batch).unwrap();
        prop_assert!(from_compiled.store().is_some());
        // The body-less rules' priors travel in the compiled header.
        prop_assert_eq!(from_compiled.priors().entries(), from_text.priors().entries());
        let opts = Options { parallel_rules: false, ..Options::default() };
        let report = |src: &RuleSource| {
            let mut b = GraphBuilder::new(&src.header().symbols);
            for &(s, r, o) in &triples {
                b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
            }
            let g = b.finish();
            let checker = SourceChecker::new(src, opts.clone()).unwrap();
            let rec = RecordName { id: RecordId { index: 0, line: 1 }, name: "rec".into() };
            let (report, tallies) = checker.get().report(&g, rec).unwrap();
            (serde_json::to_vec(&report).unwrap(), tallies)
        };
        prop_assert_eq!(report(&from_compiled), report(&from_text), "rules:\n{}", text);
        // One byte of the index changed: the compiled set is refused, never trusted.
        let index = out.join("store").join("index");
        let mut bytes = std::fs::read(&index).unwrap();
        if let Some(b) = bytes.first_mut() {
            *b ^= 1;
            std::fs::write(&index, &bytes).unwrap();
            prop_assert!(compiled::open(&out, &paths, &digest, batch).is_err());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    /// `--one-graph` (issue 24): each row checked for its own subjects only, through the row
    /// index, gives the naive whole-graph predictions whose subject the row owns; over a
    /// partition of every entity the rows' predictions are exactly the whole graph's.
    #[test]
    fn rows_of_one_graph_agree_with_the_naive_matcher(
        rules in prop::collection::vec(rule_text(), 1..4),
        triples in graph(),
        parts in prop::collection::vec(0..3usize, ENTITIES.len()),
    ) {
        let text: String = rules.iter().map(|r| format!("{r}\n")).collect();
        let Ok(rs) = RuleSet::from_text("p.rules", &text) else { return Ok(()) };
        let mut b = GraphBuilder::new(&rs.symbols);
        for &(s, r, o) in &triples {
            b.triple(ENTITIES[s], RELATIONS[r], ENTITIES[o]);
        }
        let g = b.finish();
        let engine = Engine::new(&rs);
        let index = RowIndex::new(&rs, &engine.candidates(&g), &g);
        let mut rows: Vec<Vec<u32>> = vec![Vec::new(); 3];
        for e in 0..g.entity_bound() as u32 {
            let part = ENTITIES
                .iter()
                .position(|n| g.entity_id(n) == Some(e))
                .map_or(0, |i| parts[i]);
            rows[part].push(e);
        }
        for (ri, r) in rs.rules.iter().enumerate() {
            let expected = naive::predictions(r, &g);
            for subjects in &rows {
                let res = index.check(&g, subjects, CheckOptions::default(), &mut Scratch::default());
                let out = res.outcomes.iter().find(|o| o.rule == ri as u32);
                let mine: Vec<_> = expected.iter().filter(|p| subjects.contains(&p.0)).collect();
                let head = r.head.rel;
                let correct = mine.iter().filter(|p| g.contains(p.0, head, p.1)).count() as u64;
                let mut want: Vec<_> = mine
                    .iter()
                    .filter(|p| !g.contains(p.0, head, p.1))
                    .map(|p| (p.0, p.1))
                    .collect();
                want.sort_unstable();
                let mut got: Vec<_> = out
                    .map(|o| o.violations.iter().map(|v| (v.s, v.o)).collect())
                    .unwrap_or_default();
                got.sort_unstable();
                // Counting only (a recount: no votes counted) gives the same counts.
                let counting = CheckOptions { collect_violations: false, ..CheckOptions::default() };
                let counted = index.check(&g, subjects, counting, &mut Scratch::default());
                let c = counted.outcomes.iter().find(|o| o.rule == ri as u32);
                prop_assert_eq!(c.map(|o| (o.predicted, o.correct)), out.map(|o| (o.predicted, o.correct)));
                prop_assert_eq!(out.map_or(0, |o| o.predicted), mine.len() as u64, "{}", text);
                prop_assert_eq!(out.map_or(0, |o| o.correct), correct, "{}", text);
                prop_assert_eq!(got, want, "{}", text);
            }
        }
    }
}
