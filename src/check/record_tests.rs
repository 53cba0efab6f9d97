//! Unit tests of `record.rs`: grouping, scoring and the typed steps on small rule sets.
use crate::check::{Checker, InMemory, Options, RecordChecker};
use crate::report::FindingKind;
use crate::rules::RuleSet;
use crate::triples::{GraphBuilder, RecordId, RecordName, TripleSink};

/// One wrong value breaks several expectations on its node: one finding, naming the node,
/// with the others as its consequences (counted once); another node keeps its own. An empty
/// slot is not a wrong value's consequence (a swapped id does not remove a status): it stays a
/// finding of its own, as on the other node.
#[test]
fn one_finding_per_node_with_its_consequences() {
    let rules = RuleSet::from_text(
        "p.rules",
        "10\t9\t0.9\tproductOfferingExternalId(X,PLAN_A) <= productOfferingId(X,ID_A)\n\
         10\t9\t0.95\tname(X,Plan A) <= productOfferingId(X,ID_A)\n\
         10\t9\t0.8\tprice(X,P_A) <= productOfferingId(X,ID_A)\n\
         10\t9\t0.7\tstatus(X,On) <= productOfferingId(X,ID_A)\n",
    )
    .unwrap();
    // P1's id was swapped to ID_A: its external id, name and price disagree, status empty.
    let report = crate::check::report_of(
        &rules,
        &[
            ("P1", "productOfferingId", "ID_A"),
            ("P1", "productOfferingExternalId", "PLAN_B"),
            ("P1", "name", "Plan B"),
            ("P1", "price", "P_B"),
            ("P2", "productOfferingId", "ID_A"),
            ("P2", "productOfferingExternalId", "PLAN_A"),
            ("P2", "name", "Plan A"),
            ("P2", "price", "P_A"),
        ],
    );
    let per_node: Vec<_> = report
        .findings
        .iter()
        .map(|f| (f.focus.as_str(), f.missing.relation.as_str()))
        .collect();
    assert_eq!(
        per_node,
        [("P1", "name"), ("P1", "status"), ("P2", "status")],
        "{:#?}",
        report.findings
    );
    let f = &report.findings[0];
    // The strongest expectation heads the finding, the other two conflicts are its
    // consequences, strongest first.
    assert_eq!(f.consequence_count, 2);
    let rels: Vec<_> = f.consequences.iter().map(|t| t.relation.as_str()).collect();
    assert_eq!(rels, ["productOfferingExternalId", "price"]);
    assert_eq!(report.finding_counts.total(), 3);
    assert_eq!(report.findings[1].consequence_count, 0);
}

/// Three wrong values in one row, each found by rules that rest on a different column,
/// are three findings; a fourth conflict resting on a column another rests on follows it.
#[test]
fn independent_wrong_values_in_one_node_are_separate_findings() {
    let rules = RuleSet::from_text(
        "t.rules",
        "10\t9\t0.9\tcity(X,birmingham) <= zip(X,35233)\n\
         10\t9\t0.85\tcounty(X,jefferson) <= zip(X,35233)\n\
         10\t9\t0.9\tmeasure(X,heart) <= code(X,h1)\n\
         10\t9\t0.9\towner(X,gov) <= provider(X,p1)\n",
    )
    .unwrap();
    let report = crate::check::report_of(
        &rules,
        &[
            ("R1", "zip", "35233"),
            ("R1", "city", "birminghxm"),
            ("R1", "county", "jeffxrson"),
            ("R1", "code", "h1"),
            ("R1", "measure", "heaxt"),
            ("R1", "provider", "p1"),
            ("R1", "owner", "gxv"),
        ],
    );
    let mut rels: Vec<_> = report
        .findings
        .iter()
        .map(|f| f.missing.relation.as_str())
        .collect();
    rels.sort_unstable();
    assert_eq!(rels, ["city", "measure", "owner"], "{:#?}", report.findings);
    let city = report
        .findings
        .iter()
        .find(|f| f.missing.relation == "city");
    assert_eq!(city.map(|f| f.consequence_count), Some(1));
}

/// An empty slot for which one condition predicts several values (other sources' times
/// for the same flight) is missing *a* value: the values' evidence adds up. Values
/// predicted under different conditions do not add (the strongest condition speaks).
#[test]
fn an_empty_slot_sums_the_values_one_condition_predicts() {
    use crate::check::record::empty_slot_score;
    let score = |rules: &str| {
        let rules = RuleSet::from_text("f.rules", rules).unwrap();
        let report = crate::check::report_of(&rules, &[("R", "flight", "AA1"), ("R", "src", "s1")]);
        report.findings[0].score
    };
    let one = score("10\t4\t0.4\tarr(X,t1) <= flight(X,AA1)\n");
    let same =
        score("10\t4\t0.4\tarr(X,t1) <= flight(X,AA1)\n10\t4\t0.4\tarr(X,t2) <= flight(X,AA1)\n");
    let other =
        score("10\t4\t0.4\tarr(X,t1) <= flight(X,AA1)\n10\t4\t0.4\tarr(X,t2) <= src(X,s1)\n");
    assert!((one - empty_slot_score(0.4)).abs() < 1e-9, "{one}");
    assert!((same - empty_slot_score(0.8)).abs() < 1e-6, "{same}");
    assert!((other - one).abs() < 1e-9, "{other}");
}

/// A column's majority (a body-less rule) and rules that barely beat it are one piece of
/// evidence: thirty of them score no higher than the strongest alone, and never make an
/// error; a rule that beats the majority clearly counts.
#[test]
fn near_duplicates_of_a_majority_are_one_piece_of_evidence() {
    use crate::report::Severity;
    let mut text = String::from("100\t83\t0.83\temergency(X,yes) <= \n");
    for i in 0..30 {
        text.push_str(&format!("100\t84\t0.84\temergency(X,yes) <= col{i}(X,v)\n"));
    }
    let mut triples: Vec<(String, String, String)> = (0..30)
        .map(|i| ("H".to_string(), format!("col{i}"), "v".to_string()))
        .collect();
    triples.push(("H".into(), "emergency".into(), "no".into()));
    let run = |rules: &str, t: &[(String, String, String)]| {
        let rules = RuleSet::from_text("m.rules", rules).unwrap();
        let refs: Vec<(&str, &str, &str)> = t
            .iter()
            .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
            .collect();
        crate::check::report_of(&rules, &refs)
    };
    let report = run(&text, &triples);
    let f = &report.findings[0];
    assert!(f.score <= 0.84 + 1e-9, "{f:#?}");
    assert_ne!(f.severity, Severity::Error, "{f:#?}");
    // Without the body-less rule nothing marks them as near-duplicates of a prior: the
    // noisy-or over the others raises the score (the behaviour for groups with no prior).
    let no_prior: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert!(run(&no_prior, &triples).findings[0].score > 0.9);
    // A rule that clearly beats the majority is evidence: an error.
    text.push_str("100\t97\t0.97\temergency(X,yes) <= type(X,acute)\n");
    triples.push(("H".into(), "type".into(), "acute".into()));
    let f = &run(&text, &triples).findings[0];
    assert!(f.score >= 0.97 && f.severity == Severity::Error, "{f:#?}");
}

/// A slot that holds another value is a conflict naming it; a slot with no value at all is
/// an empty slot, and its evidence counts twice.
#[test]
fn conflicts_name_the_present_value_and_empty_slots_score_higher() {
    let rules = RuleSet::from_text(
        "k.rules",
        "10\t8\t0.8\tpaymentContext(X,Postpaid) <= contractSpecification(X,SPEC_POS)\n",
    )
    .unwrap();
    let record = |with_context: bool| {
        let mut b = GraphBuilder::new(&rules.symbols);
        b.triple("K1", "contractSpecification", "SPEC_POS");
        if with_context {
            b.triple("K1", "paymentContext", "Control");
        }
        let g = b.finish();
        let name = RecordName {
            id: RecordId { index: 0, line: 1 },
            name: "K1".into(),
        };
        Checker::new(InMemory::new(&rules), Options::default())
            .report(&g, name)
            .unwrap()
            .0
    };
    let conflict = record(true);
    let f = &conflict.findings[0];
    assert_eq!(f.kind, FindingKind::Conflict);
    assert_eq!(f.present, vec!["Control".to_string()]);
    assert!(
        f.message.contains("`paymentContext` is Control") && f.message.contains("Postpaid"),
        "{}",
        f.message
    );
    assert!((f.score - 0.8).abs() < 1e-9);
    let empty = record(false);
    let f = &empty.findings[0];
    assert_eq!(f.kind, FindingKind::EmptySlot);
    assert!(f.present.is_empty());
    assert!(
        f.message.contains("has no `paymentContext`"),
        "{}",
        f.message
    );
    assert!((f.score - 0.96).abs() < 1e-9, "{}", f.score);
}

/// Two conflicts resting on the same two slots are two wrong values while neither slot is in
/// doubt (one wrong zip could not explain a city told by the phone too); once a finding
/// doubts one of those slots, one wrong value there explains both, and they are one finding.
#[test]
fn a_shared_reason_explains_only_when_it_can() {
    let rules = "10\t9\t0.9\tcity(X,birmingham) <= zip(X,35233)\n\
                 10\t9\t0.9\tcity(X,birmingham) <= phone(X,205)\n\
                 10\t9\t0.9\tcounty(X,jefferson) <= zip(X,35233)\n\
                 10\t9\t0.9\tcounty(X,jefferson) <= phone(X,205)\n";
    let row = [
        ("R1", "zip", "35233"),
        ("R1", "phone", "205"),
        ("R1", "city", "birminghxm"),
        ("R1", "county", "jeffxrson"),
    ];
    let heads = |rules: &str, extra: &[(&str, &str, &str)]| {
        let rules = RuleSet::from_text("t.rules", rules).unwrap();
        let mut triples = row.to_vec();
        triples.extend_from_slice(extra);
        let report = crate::check::report_of(&rules, &triples);
        let mut v: Vec<String> = report
            .findings
            .iter()
            .map(|f| f.missing.relation.clone())
            .collect();
        v.sort();
        v
    };
    assert_eq!(heads(rules, &[]), ["city", "county"]);
    // The name says the zip is another: the zip is in doubt, and one wrong zip explains the
    // city and the county (its consequences).
    let doubting = format!("{rules}10\t9\t0.95\tzip(X,36301) <= name(X,dothan)\n");
    assert_eq!(heads(&doubting, &[("R1", "name", "dothan")]), ["zip"]);
    // A weaker doubt (a warning, below the city's score): the city heads, the county follows
    // it through the doubted zip, and the zip is a finding of its own.
    let doubting = format!("{rules}10\t9\t0.88\tzip(X,36301) <= name(X,dothan)\n");
    assert_eq!(
        heads(&doubting, &[("R1", "name", "dothan")]),
        ["city", "zip"]
    );
}

/// An empty slot's predictions must beat their value's body-less rule even though it does not
/// fire there (it ranges over the subjects that give the relation): rules that only ask for
/// some other value (`lang(X,eng) <= issn(X,A)`) say what most rows hold, not that this row's
/// cell should hold it. The finding scores its strongest rule alone, is not counted twice as
/// an empty slot, and is no error; a rule that beats the prior is evidence again.
#[test]
fn an_empty_slot_must_beat_the_prior_its_body_less_rule_gives() {
    use crate::report::Severity;
    let mut text = String::from("100\t72\t0.72\tlang(X,eng) <= \n");
    for rel in ["issn", "title", "pages", "volume"] {
        text.push_str(&format!("100\t59\t0.59\tlang(X,eng) <= {rel}(X,A)\n"));
    }
    let triples = [
        ("A1", "issn", "1234"),
        ("A1", "title", "On rules"),
        ("A1", "pages", "1-9"),
        ("A1", "volume", "3"),
    ];
    let run = |text: &str| {
        let rules = RuleSet::from_text("p.rules", text).unwrap();
        crate::check::report_of(&rules, &triples)
    };
    let report = run(&text);
    let f = &report.findings[0];
    assert_eq!(f.kind, FindingKind::EmptySlot);
    assert!((f.score - 0.59).abs() < 1e-9, "{f:#?}");
    assert_eq!(f.severity, Severity::Info, "{f:#?}");
    // Without the body-less rule the four are evidence of their own (the behaviour for a value
    // no body-less rule speaks for), counted twice as an empty slot.
    let no_prior: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert!(run(&no_prior).findings[0].score > 0.9);
    // A rule that beats the prior clearly speaks for this row.
    text.push_str("100\t97\t0.97\tlang(X,eng) <= issn(X,1234)\n");
    let f = &run(&text).findings[0];
    assert!(f.score > 0.99 && f.severity == Severity::Error, "{f:#?}");
}

/// How far a rule must beat a prior is a ratio of odds: beside a rare value's body-less rule
/// (1%), a rule at 20% is evidence; beside a majority (83%), a rule at 84% is not.
#[test]
fn a_rule_beats_a_rare_prior_by_its_odds() {
    use crate::report::Severity;
    let text = "1000\t10\t0.01\tdep(X,11:29) <= \n\
                100\t20\t0.2\tdep(X,11:29) <= flight(X,AA-204)\n\
                100\t20\t0.2\tdep(X,11:29) <= src(X,aa)\n";
    let rules = RuleSet::from_text("o.rules", text).unwrap();
    let report = crate::check::report_of(
        &rules,
        &[
            ("R6", "flight", "AA-204"),
            ("R6", "src", "aa"),
            ("R6", "dep", "11:25"),
        ],
    );
    let f = &report.findings[0];
    // Both rules count: the strongest raised halfway by the other.
    assert!((f.score - (0.2 + 0.8 * 0.5 * 0.2)).abs() < 1e-9, "{f:#?}");
    assert_eq!(f.kind, FindingKind::Conflict);
    assert_ne!(f.severity, Severity::Error);
}

/// The values an empty slot is told by rules that do not beat their prior do not add up to the
/// slot's evidence: each stays a finding of its own, scored alone.
#[test]
fn predictions_that_do_not_beat_their_prior_do_not_add_up_for_a_slot() {
    let text = "100\t60\t0.6\tlang(X,eng) <= \n\
                100\t30\t0.3\tlang(X,fre) <= \n\
                100\t55\t0.55\tlang(X,eng) <= issn(X,A)\n\
                100\t28\t0.28\tlang(X,fre) <= issn(X,A)\n";
    let rules = RuleSet::from_text("s.rules", text).unwrap();
    let report = crate::check::report_of(&rules, &[("A1", "issn", "1234")]);
    let scores: Vec<(String, f64)> = report
        .findings
        .iter()
        .map(|f| (f.missing.object.clone(), f.score))
        .collect();
    assert_eq!(scores.len(), 2, "{scores:?}");
    assert_eq!(scores[0].0, "eng");
    assert!((scores[0].1 - 0.55).abs() < 1e-9, "{scores:?}");
    assert!((scores[1].1 - 0.28).abs() < 1e-9, "{scores:?}");
}

/// A column's majority alone does not contest a value a rule with a body vouches for (it
/// holds for the record and makes the value more likely than not): a minority the other
/// cells agree with is information, not a warning. Without the vouching rule the same
/// finding is a warning; its score and place do not change.
#[test]
fn a_prior_alone_does_not_contest_a_vouched_value() {
    use crate::report::Severity;
    let triples = [("H", "state", "ak"), ("H", "zip", "99501")];
    let run = |text: &str| {
        let rules = RuleSet::from_text("v.rules", text).unwrap();
        crate::check::report_of(&rules, &triples)
    };
    let prior = "1000\t950\t0.95\tstate(X,al) <= \n";
    let alone = run(prior);
    let f = &alone.findings[0];
    assert_eq!(
        (f.missing.object.as_str(), f.severity),
        ("al", Severity::Warning)
    );
    let vouched = run(&format!("{prior}10\t9\t0.9\tstate(X,ak) <= zip(X,99501)\n"));
    let g = &vouched.findings[0];
    assert_eq!(
        (g.missing.object.as_str(), g.severity),
        ("al", Severity::Info)
    );
    assert_eq!(g.score, f.score);
    // A weak rule (not more likely than not) vouches for nothing.
    let weak = run(&format!("{prior}10\t4\t0.4\tstate(X,ak) <= zip(X,99501)\n"));
    assert_eq!(weak.findings[0].severity, Severity::Warning);
}

/// `keep_ranks` against the naive selection it stands for: rank everything, keep the strongest
/// few whatever their severity and every finding at `keep` (by its severity, which a prior
/// or a vouched value caps below what the score says), at most the cap; count all.
mod keeping {
    use super::super::{Basis, Rank, keep_ranks};
    use crate::check::Options;
    use crate::defaults::STRONGEST_LISTED;
    use crate::report::Severity;
    use proptest::prelude::*;

    fn order(a: &Rank, b: &Rank) -> std::cmp::Ordering {
        b.score.total_cmp(&a.score).then(a.key.cmp(&b.key))
    }

    fn rank(i: u32, score: f64, basis: Basis) -> Rank {
        Rank {
            score,
            max_confidence: score,
            count: 1,
            key: (i, 0, i),
            focus: i,
            culprit: None,
            basis,
        }
    }

    fn naive(ranks: &[Rank], opts: &Options) -> (Vec<(u32, u32, u32)>, usize) {
        let severity = |r: &Rank| super::super::severity_of(opts, r.score, r.basis);
        let mut sorted: Vec<&Rank> = ranks.iter().collect();
        sorted.sort_by(|a, b| order(a, b));
        let at_keep = sorted.iter().filter(|r| severity(r) >= opts.keep).count();
        let strongest = STRONGEST_LISTED.min(ranks.len());
        let mut kept: Vec<(u32, u32, u32)> = sorted
            .iter()
            .enumerate()
            .filter(|(i, r)| *i < strongest || severity(r) >= opts.keep)
            .map(|(_, r)| r.key)
            .collect();
        kept.truncate(at_keep.max(strongest).min(opts.max_violations));
        (kept, at_keep)
    }

    fn basis(b: u8) -> Basis {
        match b % 3 {
            0 => Basis::Rules,
            1 => Basis::Prior,
            _ => Basis::PriorAgainstVouched,
        }
    }

    /// Past the strongest few, an info finding on a vouched value that outscores a warning
    /// is not kept at `--keep warning`, and the warning is.
    #[test]
    fn findings_past_the_strongest_few_are_kept_by_severity_not_score() {
        let opts = Options {
            keep: Severity::Warning,
            ..Options::default()
        };
        let mut ranks: Vec<Rank> = (0..STRONGEST_LISTED as u32)
            .map(|i| rank(i, 0.99, Basis::Rules))
            .collect();
        ranks.push(rank(100, 0.98, Basis::PriorAgainstVouched));
        ranks.push(rank(101, 0.88, Basis::Rules));
        ranks.push(rank(102, 0.5, Basis::Rules));
        let (kept, counts, cut) = keep_ranks(ranks, &opts, order);
        let keys: Vec<u32> = kept.iter().map(|r| r.key.0).collect();
        assert_eq!(keys, (0..10).chain([101]).collect::<Vec<_>>());
        assert_eq!((counts.error, counts.warning, counts.info), (10, 1, 2));
        assert!(!cut);
    }

    proptest! {
        #[test]
        fn keep_ranks_is_the_naive_selection(
            found in proptest::collection::vec((0.0f64..1.0, any::<u8>()), 0..40),
            keep in 0u8..3,
            cap in 1usize..30,
        ) {
            let opts = Options {
                keep: [Severity::Info, Severity::Warning, Severity::Error][keep as usize],
                max_violations: cap,
                ..Options::default()
            };
            let ranks: Vec<Rank> = found
                .iter()
                .enumerate()
                .map(|(i, &(s, b))| rank(i as u32, s, basis(b)))
                .collect();
            let (want, at_keep) = naive(&ranks, &opts);
            let (kept, counts, cut) = keep_ranks(ranks, &opts, order);
            let got: Vec<_> = kept.iter().map(|r| r.key).collect();
            prop_assert_eq!(got, want);
            prop_assert_eq!(counts.total() as usize, found.len());
            prop_assert_eq!(cut, at_keep > cap);
        }
    }
}
