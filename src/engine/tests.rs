use super::*;
use crate::rules::RuleSet;
use crate::triples::{GraphBuilder, TripleSink};

/// Checks `rules` (one per line) against `triples` ("s r o" per line) and returns, per rule,
/// (predicted, correct, sorted violations as "s r o" strings).
fn check(rules: &str, triples: &str) -> Vec<(u64, u64, Vec<String>)> {
    let rs = RuleSet::from_text("t.rules", rules).unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for line in triples.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split_whitespace().collect();
        b.triple(f[0], f[1], f[2]);
    }
    let g = b.finish();
    let engine = Engine::new(&rs);
    let res = engine.check(&g, CheckOptions::default());
    rs.rules
        .iter()
        .enumerate()
        .map(|(i, rule)| {
            let o = res.outcomes.iter().find(|o| o.rule == i as u32);
            let (p, c, mut v) = o.map_or((0, 0, vec![]), |o| {
                let v = o
                    .violations
                    .iter()
                    .map(|v| {
                        format!(
                            "{} {} {}",
                            g.entity_name(v.s),
                            rs.relation(rule.head.rel),
                            g.entity_name(v.o)
                        )
                    })
                    .collect();
                (o.predicted, o.correct, v)
            });
            v.sort();
            (p, c, v)
        })
        .collect()
}

const G: &str = "
a knows b
b knows c
a likes c
c likes a
b likes b
a type person
b type person
c type robot
";

#[test]
fn cyclic_length_one_and_two() {
    let r = check(
        "likes(X,Y) <= knows(X,Y)\nlikes(X,Y) <= knows(X,A), knows(A,Y)\n",
        G,
    );
    assert_eq!(r[0], (2, 0, vec!["a likes b".into(), "b likes c".into()]));
    assert_eq!(r[1], (1, 1, vec![]));
}

#[test]
fn inverse_atom_order() {
    let r = check("likes(Y,X) <= knows(X,Y)\n", G);
    // Predicts (b likes a) and (c likes b): neither holds.
    assert_eq!(r[0], (2, 0, vec!["b likes a".into(), "c likes b".into()]));
}

#[test]
fn acyclic_with_constant_and_dangling() {
    let r = check(
        "type(X,person) <= knows(X,A)\ntype(X,person) <= likes(X,A), type(A,robot)\ntype(X,robot) <= likes(A,X)\n",
        G,
    );
    // knows(X,A): X in {a, b}; both persons.
    assert_eq!(r[0], (2, 2, vec![]));
    // likes(X,c), type(c,robot): X = a.
    assert_eq!(r[1], (1, 1, vec![]));
    // likes(A,X) with A != X: X in {c, a} (b likes b is excluded by identity); c is a robot.
    assert_eq!(r[2], (2, 1, vec!["a type robot".into()]));
}

#[test]
fn zero_rules_both_sides() {
    let r = check("type(X,person) <= \ntype(robot,Y) <= \n", G);
    // Subjects of type: a, b, c; (c type person) is missing.
    assert_eq!(r[0], (3, 2, vec!["c type person".into()]));
    // Objects of type: person, robot; robot != the constant robot is excluded.
    assert_eq!(r[1], (1, 0, vec!["robot type person".into()]));
}

#[test]
fn object_identity_variables_differ() {
    // knows(X,A), knows(A,Y): with a->b->c gives X=a,Y=c. A reflexive triple must not let two
    // variables share an entity.
    let r = check(
        "likes(X,Y) <= likes(X,A), likes(A,Y)\n",
        "a likes a\na likes b\nb likes c\n",
    );
    // X=a,A=b,Y=c only (A=a would equal X).
    assert_eq!(r[0], (1, 0, vec!["a likes c".into()]));
}

#[test]
fn object_identity_constants_excluded() {
    // X may not be the head constant `person`, nor A the body constant.
    let r = check(
        "type(X,person) <= knows(X,A)\n",
        "person knows a\nb knows person\nb knows c\n",
    );
    // X=person excluded (head constant); X=b via A=c (A=person excluded but c works).
    assert_eq!(r[0], (1, 0, vec!["b type person".into()]));
}

#[test]
fn me_myself_i_head_and_body() {
    let r = check(
        "same(X,me_myself_i) <= knows(X,A)\nlikes(X,Y) <= likes(X,me_myself_i), knows(X,Y)\nsame(me_myself_i,Y) <= knows(a,Y)\n",
        "a knows b\nb knows c\nb likes b\nb same b\n",
    );
    // Head (x,same,x) for x in {a, b}; (b same b) holds.
    assert_eq!(r[0], (2, 1, vec!["a same a".into()]));
    // likes(b,b), knows(b,c) -> likes(b,c).
    assert_eq!(r[1], (1, 0, vec!["b likes c".into()]));
    // knows(a,Y): Y=b -> (b same b) holds.
    assert_eq!(r[2], (1, 1, vec![]));
}

#[test]
fn reflexive_head_variable() {
    let r = check("same(X,X) <= knows(X,A)\n", "a knows b\n");
    assert_eq!(r[0], (1, 0, vec!["a same a".into()]));
}

#[test]
fn zero_rule_with_equality_token() {
    let r = check("same(X,me_myself_i) <= \n", "a same a\nb same c\n");
    // Subjects a, b: (a same a) holds, (b same b) is missing.
    assert_eq!(r[0], (2, 1, vec!["b same b".into()]));
}

#[test]
fn not_applicable_rules_are_absent() {
    let r = check(
        "likes(X,Y) <= hates(X,Y)\ntype(X,person) <= knows(X,zz)\n",
        G,
    );
    assert_eq!(r[0], (0, 0, vec![]));
    assert_eq!(r[1], (0, 0, vec![]));
}

#[test]
fn each_violation_once_with_a_valid_witness() {
    let rs = RuleSet::from_text("t", "type(X,person) <= knows(X,A), knows(A,B)\n").unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for (s, o) in [("a", "b"), ("b", "c"), ("b", "d"), ("c", "e")] {
        b.triple(s, "knows", o);
    }
    let g = b.finish();
    let res = Engine::new(&rs).check(&g, CheckOptions::default());
    let o = &res.outcomes[0];
    assert_eq!((o.predicted, o.correct), (2, 0));
    assert_eq!(o.violations.len(), 2);
    for v in &o.violations {
        for (s, r, obj) in witness_triples(&rs.rules[0], &v.binding) {
            assert!(g.contains(s, r, obj));
        }
    }
}

#[test]
fn witness_with_the_head_bound_and_its_work_bound() {
    let rs = RuleSet::from_text("t", "type(X,person) <= knows(X,A), knows(A,B)\n").unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for (s, o) in [("a", "b"), ("b", "c"), ("b", "d")] {
        b.triple(s, "knows", o);
    }
    let g = b.finish();
    let (a, person) = (
        g.entity_id("a").unwrap(),
        rs.symbols.entities.get("person").unwrap(),
    );
    let binding = witness(&rs.rules[0], &g, a, person).expect("a knows b, b knows c");
    for (s, r, o) in witness_triples(&rs.rules[0], &binding) {
        assert!(g.contains(s, r, o));
    }
    // `c` knows nobody: no grounding with X = c.
    let c = g.entity_id("c").unwrap();
    assert!(witness(&rs.rules[0], &g, c, person).is_none());
    // Cut short before the second atom: given up, not guessed.
    assert!(witness_bounded(&rs.rules[0], &g, a, person, 1).is_none());
}

#[test]
fn violation_cap_keeps_counts() {
    let rs = RuleSet::from_text("t", "type(X,person) <= knows(X,A)\n").unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for i in 0..10 {
        b.triple(&format!("p{i}"), "knows", "z");
    }
    let g = b.finish();
    let opts = CheckOptions {
        collect_violations: true,
        max_violations_per_rule: 3,
        ..CheckOptions::default()
    };
    let res = Engine::new(&rs).check(&g, opts);
    assert_eq!(res.outcomes[0].violation_count(), 10);
    assert_eq!(res.outcomes[0].violations.len(), 3);
    let counts_only = CheckOptions {
        collect_violations: false,
        ..opts
    };
    let res = Engine::new(&rs).check(&g, counts_only);
    assert!(res.outcomes[0].violations.is_empty());
    assert_eq!(res.outcomes[0].predicted, 10);
}

#[test]
fn index_skips_rules_that_cannot_apply() {
    let rs = RuleSet::from_text(
        "t",
        "type(X,person) <= knows(X,a)\ntype(X,person) <= hates(X,A)\ntype(X,person) <= knows(X,A), hates(A,B)\ntype(X,c) <= \n",
    )
    .unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    b.triple("x", "knows", "y");
    let g = b.finish();
    let res = Engine::new(&rs).check(&g, CheckOptions::default());
    assert_eq!(
        res.evaluated, 0,
        "no rule can apply: constant a absent, hates absent, type absent"
    );
}

#[test]
fn work_bound_truncates_with_counts_so_far() {
    let rs = RuleSet::from_text("t", "q(X,Y) <= r(X,A), r(A,Y)\n").unwrap();
    let mut b = GraphBuilder::new(&rs.symbols);
    for i in 0..100 {
        b.triple("hub", "r", &format!("e{i}"));
        b.triple(&format!("e{i}"), "r", "hub");
    }
    let g = b.finish();
    let full = Engine::new(&rs).check(&g, CheckOptions::default());
    assert_eq!(full.truncated, 0);
    assert!(!full.outcomes[0].truncated);
    let bounded = CheckOptions {
        max_steps_per_rule: 50,
        ..CheckOptions::default()
    };
    let cut = Engine::new(&rs).check(&g, bounded);
    assert_eq!(cut.truncated, 1);
    assert!(cut.outcomes[0].truncated);
    assert!(cut.outcomes[0].predicted < full.outcomes[0].predicted);
    let late = CheckOptions {
        deadline: Some(std::time::Instant::now()),
        ..CheckOptions::default()
    };
    let skipped = Engine::new(&rs).check(&g, late);
    assert_eq!(skipped.skipped, 1);
    assert!(skipped.outcomes.is_empty());
}
