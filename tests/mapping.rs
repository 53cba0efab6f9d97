//! `--mapping` / manifest `mapping:`: the nested mappings add derived triples, leave the plain
//! ones alone, and findings on derived relations point at the value in the record.

mod common;

use std::fs;

use common::{pff, pff_run, read, root, stderr_of};

fn stdout(cmd: &mut assert_cmd::Command) -> String {
    String::from_utf8_lossy(&cmd.assert().code(0).get_output().stdout).into_owned()
}

const TMF: [&str; 4] = ["--mapping", "tmf", "--name-key", "charSpecExternalId"];

#[test]
fn the_plain_mapping_is_the_default_and_nested_ones_only_add() {
    let default = stdout(&mut pff(&["triples", "data/records.jsonl"]));
    let plain = stdout(&mut pff(&[
        "triples",
        "data/records.jsonl",
        "--mapping",
        "plain",
    ]));
    assert_eq!(default, plain);
    for mapping in ["nested", "tmf"] {
        let mut args = vec!["triples", "data/records.jsonl", "--mapping", mapping];
        args.extend(["--name-key", "charSpecExternalId"]);
        let more = stdout(&mut pff(&args));
        let lines: std::collections::HashSet<&str> = more.lines().collect();
        assert!(
            plain.lines().all(|l| lines.contains(l)),
            "{mapping} dropped a triple"
        );
        assert!(
            more.contains("\tstatus.status\tContractActive\n"),
            "{mapping}"
        );
        assert!(
            more.contains("\tcharacteristic:clientCategory\tcontrole\n"),
            "{mapping}"
        );
    }
}

/// A rule over derived relations, confident enough to be an error.
fn derived_rules(dir: &tempfile::TempDir) -> String {
    common::write(
        dir,
        "derived.txt",
        b"200\t199\t0.995\tcharacteristic:clientCategory(X,pos) <= paymentContext(X,Control)\n",
    )
}

#[test]
fn findings_on_derived_relations_point_at_the_value_to_fix() {
    let dir = tempfile::TempDir::new().unwrap();
    let rules = derived_rules(&dir);
    let mut args = vec![
        "validate",
        "data/records/CUST1000.json",
        "--rules",
        &rules,
        "--format",
        "json",
        "--fail-on",
        "never",
    ];
    // Under the plain mapping the relation is never there: an empty slot on the owner.
    let plain: serde_json::Value = serde_json::from_str(&stdout(&mut pff(&args))).unwrap();
    let f = &plain["records"][0]["findings"][0];
    assert_eq!(f["kind"], "empty_slot");
    assert_eq!(f["focus"], "K1000CO0");
    args.extend(TMF);
    let tmf: serde_json::Value = serde_json::from_str(&stdout(&mut pff(&args))).unwrap();
    let f = &tmf["records"][0]["findings"][0];
    assert_eq!(f["kind"], "conflict");
    assert_eq!(f["present"], serde_json::json!(["controle"]));
    assert_eq!(f["focus"], "K1000CO0/characteristic[0]/value[0]");
    assert_eq!(f["missing"]["subject"], "K1000CO0");
    assert_eq!(f["missing"]["relation"], "characteristic:clientCategory");
}

#[test]
fn a_run_records_its_mapping_and_resume_and_baseline_keep_to_it() {
    let dir = tempfile::TempDir::new().unwrap();
    let rules = derived_rules(&dir);
    let record = read(&root().join("data/records/CUST1000.json"));
    fs::write(dir.path().join("CUST1000.json"), &record).unwrap();
    let m = dir.path().join("m.yaml");
    fs::write(
        &m,
        format!(
            "execution_id: t\nrules: {rules}\nmapping: tmf\nname_key: charSpecExternalId\n\
             tasks:\n- msisdn: CUST1000.json\n"
        ),
    )
    .unwrap();
    let out = dir.path().join("out");
    pff_run(&m, &out, &["--keep", "info"]).assert().code(0);
    let task = read(&out.join("tasks/000000-CUST1000.json.json"));
    assert!(
        task.contains("K1000CO0/characteristic[0]/value[0]"),
        "{task}"
    );
    let info: serde_json::Value = serde_json::from_str(&read(&out.join("execution.json"))).unwrap();
    assert_eq!(info["mapping"], "tmf name_key=charSpecExternalId");
    // The flag overrides the manifest; a resume under another mapping is refused.
    let err = stderr_of(
        &mut pff_run(&m, &out, &["--resume", "--mapping", "plain"]),
        2,
    );
    assert!(err.contains("mapping `plain`"), "{err}");
    // A baseline read under another mapping is refused too.
    let out2 = dir.path().join("out2");
    let err = stderr_of(
        &mut pff_run(
            &m,
            &out2,
            &["--baseline", out.to_str().unwrap(), "--name-key", "name"],
        ),
        2,
    );
    assert!(err.contains("another mapping"), "{err}");
}

/// The derived triples are a contract with every rule set learned under a nested mapping:
/// pinned here for one sample record, under both nested mappings.
#[test]
fn derived_triples_snapshot() {
    let record = "data/records/CUST1005.json";
    let plain = stdout(&mut pff(&["triples", record]));
    for mapping in ["nested", "tmf"] {
        let all = stdout(&mut pff(&[
            "triples",
            record,
            "--mapping",
            mapping,
            "--name-key",
            "charSpecExternalId",
        ]));
        let derived: String = all
            .lines()
            .filter(|l| !plain.lines().any(|p| p == *l))
            .map(|l| format!("{l}\n"))
            .collect();
        insta::assert_snapshot!(format!("derived_{mapping}"), derived);
    }
}

/// A report under `--mapping tmf`: findings on derived relations, their focus and
/// consequences, in the JSON format.
#[test]
fn tmf_report_snapshot() {
    let dir = tempfile::TempDir::new().unwrap();
    let rules = common::write(
        &dir,
        "derived.txt",
        b"200\t199\t0.995\tcharacteristic:clientCategory(X,pos) <= paymentContext(X,Postpaid)\n\
          200\t190\t0.95\tstatus.status(X,ContractActive) <= paymentContext(X,Postpaid)\n\
          100\t99\t0.99\tcharacteristic:clientCategory(X,controle) <= paymentContext(X,Control)\n",
    );
    let mut args = vec![
        "validate",
        "data/records/CUST1005.json",
        "--rules",
        &rules,
        "--format",
        "json",
        "--keep",
        "info",
        "--fail-on",
        "never",
    ];
    args.extend(TMF);
    let out = stdout(&mut pff(&args)).replace(&rules, "derived.txt");
    insta::assert_snapshot!("tmf_json", out);
}

/// The human and Markdown reports say where a derived value lives (or would), and `--dry-run`
/// names the mapping a run uses.
#[test]
fn reports_and_dry_run_name_the_place_and_the_mapping() {
    let dir = tempfile::TempDir::new().unwrap();
    let record = common::write(
        &dir,
        "k.json",
        br#"{"id":"K","paymentContext":"Postpaid",
            "status":[{"validFor":{"startDateTime":"a"}}],
            "characteristic":[{"charSpecExternalId":"clientCategory","value":[{"value":"pre"}]}]}"#,
    );
    let rules = common::write(
        &dir,
        "r.txt",
        b"100\t99\t0.99\tstatus.status@current(X,Active) <= paymentContext(X,Postpaid)\n\
          100\t99\t0.99\tcharacteristic:clientCategory(X,pos) <= paymentContext(X,Postpaid)\n",
    );
    let report = |format: &str| common::validate_stdout(&record, &rules, format, &TMF);
    let human = report("human");
    assert!(
        human.contains("conflict: `characteristic:clientCategory` of K is pre (at K/characteristic[0]/value[0])"),
        "{human}"
    );
    assert!(
        human.contains("empty: the value belongs in K/status[0]"),
        "{human}"
    );
    let md = report("markdown");
    assert!(
        md.contains("is pre (at K/characteristic[0]/value[0])"),
        "{md}"
    );
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        format!("execution_id: t\nrules: {rules}\nmapping: tmf\nname_key: charSpecExternalId\ntasks:\n- msisdn: k.json\n"),
    )
    .unwrap();
    let plan = stdout(&mut pff(&["run", m.to_str().unwrap(), "--dry-run"]));
    assert!(
        plan.contains("mapping tmf name_key=charSpecExternalId"),
        "{plan}"
    );
}

/// Issue 23: rules checked under an encoding their relations do not exist in are named once,
/// with the encoding under which the records give them; `--strict` refuses; the right
/// encoding (and plain rules under tmf) gives no message.
#[test]
fn an_encoding_mismatch_is_named_with_its_fix() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.txt");
    let mut text = String::new();
    for i in 0..5 {
        text.push_str(&format!(
            "10\t9\t0.9\tcharacteristic:clientCategory(X,pos) <= status.status(X,A{i})\n"
        ));
    }
    text.push_str("10\t9\t0.9\tpaymentContext(X,Postpaid) <= contractSpecification(X,SPEC_POS)\n");
    std::fs::write(&rules, text).unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(
        &data,
        r#"{"id":"K1","status":[{"status":"On"}],"characteristic":[{"charSpecExternalId":"clientCategory","value":"pos"}],"paymentContext":"Postpaid","contractSpecification":"SPEC_POS"}
"#,
    )
    .unwrap();
    let (r, d) = (rules.to_str().unwrap(), data.to_str().unwrap());
    let err = |extra: &[&str], code: i32| {
        let mut args = vec!["validate", d, "--rules", r, "--fail-on", "never"];
        args.extend_from_slice(extra);
        stderr_of(&mut pff(&args), code)
    };
    let plain = err(&[], 0);
    assert!(
        plain.contains(
            "of 6 rules use relations the first records never give under --mapping plain"
        ) && plain.contains("`characteristic:clientCategory` (5 rules)")
            && plain.contains("--name-key charSpecExternalId"),
        "{plain}"
    );
    let key = err(&["--mapping", "tmf"], 0);
    assert!(key.contains("under --mapping tmf --name-key name"), "{key}");
    let strict = err(&["--strict"], 2);
    assert!(strict.contains("(--strict)"), "{strict}");
    // The reports say it too.
    for (format, needle) in [
        ("human", "warning: about"),
        ("markdown", "**Warning:** about"),
        ("json", "\"warnings\":[\"about"),
        ("sarif", "\"level\": \"warning\""),
    ] {
        let out = pff(&[
            "validate",
            d,
            "--rules",
            r,
            "--fail-on",
            "never",
            "-f",
            format,
        ])
        .output()
        .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(needle), "{format}: {text}");
    }
    let right = err(&["--mapping", "tmf", "--name-key", "charSpecExternalId"], 0);
    assert!(!right.contains("warning"), "{right}");
    // `pff run` checks the first task read from a file.
    let record = dir.path().join("k1.json");
    std::fs::copy(&data, &record).unwrap();
    let m = dir.path().join("m.yaml");
    std::fs::write(
        &m,
        format!("execution_id: e\nrules: {r}\nfail_on: never\ntasks:\n- msisdn: k1.json\n"),
    )
    .unwrap();
    let run = stderr_of(&mut pff_run(&m, dir.path().join("o"), &[]), 0);
    assert!(run.contains("--name-key charSpecExternalId"), "{run}");
    let summary = read(&dir.path().join("o/summary.json"));
    assert!(
        summary.contains("\"warnings\"") && summary.contains("characteristic:clientCategory"),
        "{summary}"
    );
    let strict = stderr_of(&mut pff_run(&m, dir.path().join("o2"), &["--strict"]), 2);
    assert!(strict.contains("(--strict)"), "{strict}");
}

/// Issue 23: rules learned on a graph that holds `(X, id, X)` for every node (the
/// predecessor's, with AnyBURL's `me_myself_i` for "itself") are checked with those triples,
/// taken up by themselves and said once: no finding claims that a node lacks the id it has.
#[test]
fn predecessor_rules_on_id_get_id_triples() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.txt");
    std::fs::write(
        &rules,
        "100\t95\t0.95\tid(X,me_myself_i) <= characteristic(A,X)\n\
         100\t95\t0.95\tid(X,me_myself_i) <= status(X,Active)\n\
         100\t90\t0.9\tpaymentContext(X,Postpaid) <= status(X,Active)\n",
    )
    .unwrap();
    let data = dir.path().join("d.jsonl");
    std::fs::write(
        &data,
        "{\"id\":\"K1\",\"status\":\"Active\",\"characteristic\":[{\"name\":\"a\"}]}\n",
    )
    .unwrap();
    let (r, d) = (rules.to_str().unwrap(), data.to_str().unwrap());
    let out = pff(&["validate", d, "--rules", r, "-f", "jsonl", "--keep", "info"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("2 of 3 rules use `id` as a relation"), "{err}");
    let findings = String::from_utf8_lossy(&out.stdout);
    assert!(!findings.contains("has no `id`"), "{findings}");
    assert!(findings.contains("has no `paymentContext`"), "{findings}");
    // The triples say it too.
    let t = pff(&["triples", d, "--id-triples"]).output().unwrap();
    let t = String::from_utf8_lossy(&t.stdout);
    assert!(
        t.contains("K1\tid\tK1") && t.contains("K1/characteristic[0]\tid\tK1/characteristic[0]"),
        "{t}"
    );
}
