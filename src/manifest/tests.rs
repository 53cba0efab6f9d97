//! Manifest parsing: every problem at once, located.

use super::*;

/// Every task, read as a run reads them.
fn all(m: &Manifest) -> Vec<Task> {
    m.tasks
        .iter()
        .unwrap()
        .map(|t| t.unwrap().1.into_owned())
        .collect()
}

fn dir_with(files: &[&str]) -> tempfile::TempDir {
    let d = tempfile::TempDir::new().unwrap();
    for f in files {
        std::fs::write(d.path().join(f), "{}").unwrap();
    }
    d
}

#[test]
fn predecessor_manifest_as_is() {
    let d = dir_with(&["test.json"]);
    let m = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: execucao-gerada\nmax_workers: 16\ntasks:\n- msisdn: test.json\n  sequence: Validar Json\n",
    )
    .unwrap();
    assert_eq!(m.execution_id, "execucao-gerada");
    assert_eq!(m.resources.max_workers, Some(16));
    assert_eq!(all(&m)[0].sequence, "Validar Json");
    assert_eq!(all(&m)[0].source, Source::File(d.path().join("test.json")));
}

#[test]
fn all_problems_at_once_with_locations() {
    let d = dir_with(&["a.json"]);
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nrules: missing.rules\ntasks:\n- msisdn: a.json\n- msisdn: a.json\n- msisdn: b.json\n  sequence: Nope\n",
    )
    .unwrap_err();
    let ManifestError::Invalid { problems, .. } = &err else {
        panic!()
    };
    let msgs: Vec<_> = problems
        .iter()
        .map(|p| (p.line, p.message.as_str()))
        .collect();
    assert_eq!(problems.len(), 4, "{msgs:?}");
    assert_eq!(problems[0].line, 2);
    assert!(problems[0].message.contains("missing.rules"));
    assert!(
        problems[1]
            .message
            .contains("duplicate task `a.json` (first at line 4)")
    );
    assert_eq!(problems[1].line, 5);
    assert!(
        problems[2]
            .message
            .contains("unknown sequence `Nope`; known: `Validar Json`, `validate`")
    );
    assert!(
        problems[3]
            .message
            .contains("b.json exists neither beside the manifest"),
        "{}",
        problems[3].message
    );
    assert!(err.to_string().contains("m.yaml:7:"), "{err}");
}

#[test]
fn execution_ids_that_leave_the_folder_and_absurd_durations_are_refused() {
    let d = dir_with(&["a.json"]);
    for (yaml, want) in [
        ("execution_id: '..'\n", "outside the output folder"),
        ("execution_id: '.'\n", "outside the output folder"),
        ("execution_id: a/b\n", "may hold only"),
        ("execution_id: x\ntask_time_budget_secs: 1e19\n", "at most"),
        ("execution_id: x\ntask_time_budget_secs: .nan\n", "above 0"),
        ("execution_id: x\nfetch_retries: 1000000\n", "at most 20"),
    ] {
        let err = Manifest::parse(
            &d.path().join("m.yaml"),
            &format!("{yaml}tasks:\n- msisdn: a.json\n"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains(want), "{yaml}: {err}");
    }
}

#[test]
fn a_recorded_manifest_does_not_need_its_sources() {
    let d = dir_with(&[]);
    let text = "execution_id: x\ntasks:\n- msisdn: gone.json\n";
    assert!(Manifest::parse(&d.path().join("m.yaml"), text).is_err());
    let m = Manifest::parse_recorded(&d.path().join("m.yaml"), text, None).unwrap();
    assert_eq!(all(&m)[0].id, "gone.json");
    assert_eq!(m.text, text);
}

#[test]
fn rule_batch_is_read_and_checked() {
    let d = dir_with(&["a.json"]);
    let m = |extra: &str| {
        Manifest::parse(
            &d.path().join("m.yaml"),
            &format!("execution_id: x\n{extra}tasks:\n- msisdn: a.json\n"),
        )
    };
    assert_eq!(
        m("rule_batch: 5000\n").unwrap().resources.rule_batch,
        Some(5000)
    );
    assert_eq!(m("").unwrap().resources.rule_batch, None);
    let err = m("rule_batch: 0\n").unwrap_err().to_string();
    assert!(
        err.contains("m.yaml:2:") && err.contains("rule_batch must be at least 1"),
        "{err}"
    );
}

#[test]
fn unknown_key_and_wrong_type_are_located() {
    let d = dir_with(&[]);
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nmax_wrokers: 3\ntasks: []\n",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("max_wrokers") && msg.contains("m.yaml:2:"),
        "{msg}"
    );
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nmax_workers: many\ntasks: []\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("m.yaml:2:"), "{err}");
}

#[test]
fn every_problem_at_once_with_suggestions_and_true_columns() {
    let d = dir_with(&["a.json"]);
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nmax_wrokers: 3\nfail_on: eror\nmax_violations: many\ntasks:\n- msisdn: a.json\n  sourc: a.json\n",
    )
    .unwrap_err();
    let ManifestError::Invalid { problems, .. } = &err else {
        panic!()
    };
    let at: Vec<(u64, u64)> = problems.iter().map(|p| (p.line, p.column)).collect();
    assert_eq!(at, vec![(2, 1), (3, 10), (4, 17), (7, 3)], "{err}");
    assert!(problems[0].message.contains("did you mean `max_workers`?"));
    assert!(
        problems[1]
            .message
            .starts_with("`fail_on`: unknown variant `eror`")
    );
    assert!(problems[3].message.contains("did you mean `source`?"));
    // The location is printed once, as file:line:column.
    assert!(!err.to_string().contains("line 3 column"), "{err}");
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\ntasks:\n\t- msisdn: a.json\n",
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("m.yaml:3:1: tabs"), "{err}");
}

#[test]
fn urls_and_sources() {
    let d = dir_with(&["r.json"]);
    let m = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nsequence: validate\ntasks:\n- msisdn: '5511'\n  source: https://example.invalid/r.json\n- msisdn: '5512'\n  source: r.json\n",
    )
    .unwrap();
    assert_eq!(
        all(&m)[0].source,
        Source::Url("https://example.invalid/r.json".into())
    );
    assert_eq!(all(&m)[1].id, "5512");
    assert_eq!(all(&m)[1].sequence, "validate");
}

#[test]
fn reports_are_named_formats() {
    let d = dir_with(&["r.json"]);
    let m = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nreports: [markdown, junit, sarif]\ntasks:\n- msisdn: r.json\n",
    )
    .unwrap();
    assert_eq!(
        m.reports,
        vec![
            OutputFormat::Markdown,
            OutputFormat::Junit,
            OutputFormat::Sarif
        ]
    );
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nreports: [pdf]\ntasks:\n- msisdn: r.json\n",
    )
    .unwrap_err();
    assert!(err.to_string().contains("m.yaml:2:"), "{err}");
}

/// The parser's node budget grows with the manifest: 60,000 inline tasks with a sequence each
/// (36,000 used to be refused with the parser's internals) read fine.
#[test]
fn large_inline_task_lists_parse() {
    let d = dir_with(&[]);
    let mut text = String::from("execution_id: big\ntasks:\n");
    for i in 0..60_000 {
        text.push_str(&format!(
            "- msisdn: '55119{i:08}'\n  sequence: Validar Json\n"
        ));
    }
    let m = Manifest::parse_recorded(&d.path().join("m.yaml"), &text, None).unwrap();
    assert_eq!(m.tasks.len(), 60_000);
    assert_eq!(all(&m)[59_999].id, "5511900059999");
}

#[test]
fn tasks_file_problems_name_the_file_and_line() {
    let d = dir_with(&["a.json", "b.json"]);
    let p = d.path().join("m.yaml");
    std::fs::write(d.path().join("t.txt"), "a.json\n\nb.json\na.json\nc.json\n").unwrap();
    let err = Manifest::parse(&p, "execution_id: x\ntasks_file: t.txt\n").unwrap_err();
    let ManifestError::Invalid { problems, .. } = &err else {
        panic!()
    };
    let t = d.path().join("t.txt").display().to_string();
    let msgs: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert!(msgs[0].starts_with(&format!("{t}:4: duplicate task `a.json` (first at line 1)")));
    assert!(msgs[1].starts_with(&format!("{t}:5: task source c.json exists neither")));
    // Both inline tasks and a file; a file that is not there; a file without tasks.
    let both = "execution_id: x\ntasks_file: t.txt\ntasks:\n- msisdn: a.json\n";
    let err = Manifest::parse(&p, both).unwrap_err().to_string();
    assert!(err.contains("m.yaml:2:13: give the tasks inline"), "{err}");
    let err = Manifest::parse(&p, "execution_id: x\ntasks_file: none.txt\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read the tasks file"), "{err}");
    std::fs::write(d.path().join("e.txt"), "# nothing tonight\n").unwrap();
    let err = Manifest::parse(&p, "execution_id: x\ntasks_file: e.txt\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("holds no task"), "{err}");
    // A good one: keys in file order, sources beside the manifest.
    std::fs::write(d.path().join("t.txt"), "b.json\na.json\n").unwrap();
    let m = Manifest::parse(&p, "execution_id: x\ntasks_file: t.txt\n").unwrap();
    let tasks = all(&m);
    let keys: Vec<&str> = tasks.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(keys, ["b.json", "a.json"]);
    assert_eq!(all(&m)[1].source, Source::File(d.path().join("a.json")));
}

/// A tasks file of any length: its problems are the first 50 by line and a count of the rest,
/// duplicates found exactly (each repeat names the first line of its key).
#[test]
fn tasks_file_problems_are_bounded_and_duplicates_exact() {
    let d = dir_with(&[]);
    let p = d.path().join("m.yaml");
    let mut text = String::new();
    for i in 0..5_000 {
        text.push_str(&format!("55119{i:08}\n"));
    }
    // 70 repeats of two keys, after the 5,000 distinct ones.
    for i in 0..70 {
        text.push_str(&format!("55119{:08}\n", i % 2));
    }
    std::fs::write(d.path().join("t.txt"), &text).unwrap();
    let m = "execution_id: x\nsource_template: http://h/{msisdn}\ntasks_file: t.txt\n";
    let err = Manifest::parse(&p, m).unwrap_err();
    let ManifestError::Invalid { problems, .. } = &err else {
        panic!()
    };
    assert_eq!(problems.len(), 51, "{err}");
    let t = d.path().join("t.txt").display().to_string();
    assert_eq!(
        problems[0].message,
        format!("{t}:5001: duplicate task `5511900000000` (first at line 1)")
    );
    assert_eq!(
        problems[1].message,
        format!("{t}:5002: duplicate task `5511900000001` (first at line 2)")
    );
    assert_eq!(problems[50].message, format!("{t}: 20 more problems"));
}

/// The tasks of a file are read again on every pass, never held; a file changed since the
/// manifest was checked is refused rather than read as another list.
#[test]
fn a_tasks_file_is_read_again_and_must_not_change() {
    let d = dir_with(&["a.json", "b.json"]);
    let p = d.path().join("m.yaml");
    let f = d.path().join("t.jsonl");
    std::fs::write(
        &f,
        "{\"msisdn\":\"a\",\"source\":\"a.json\",\"payload\":{\"n\":1}}\n{\"key\":\"b.json\"}\n",
    )
    .unwrap();
    let m = Manifest::parse(
        &p,
        "execution_id: x\nsequence: validate\ntasks_file: t.jsonl\n",
    )
    .unwrap();
    assert!(
        matches!(m.tasks, TaskList::File(_)),
        "a tasks file is not held"
    );
    assert_eq!(m.tasks.len(), 2);
    for _ in 0..2 {
        let tasks = all(&m);
        assert_eq!(tasks[0].id, "a");
        assert_eq!(tasks[0].source, Source::File(d.path().join("a.json")));
        assert_eq!(tasks[0].payload, Some(serde_json::json!({"n": 1})));
        assert_eq!(tasks[1].sequence, "validate");
        let keys: Vec<(usize, String)> = m
            .tasks
            .keys()
            .unwrap()
            .map(|k| {
                let (i, k) = k.unwrap();
                (i, k.into_owned())
            })
            .collect();
        assert_eq!(keys, [(0, "a".to_string()), (1, "b.json".to_string())]);
    }
    std::fs::write(&f, "{\"key\":\"b.json\"}\n").unwrap();
    let err = match m.tasks.iter() {
        Err(e) => e.to_string(),
        Ok(_) => panic!("a changed tasks file was read"),
    };
    assert!(err.contains("changed while pff was using it"), "{err}");
    assert!(err.contains("--resume"), "{err}");
}

/// `--tasks FILE` replaces the manifest's tasks: their `payload: !file` tags do not attach to
/// the file's tasks.
#[test]
fn inline_payload_files_do_not_attach_to_a_given_tasks_file() {
    let d = dir_with(&["a.json", "p.json"]);
    let p = d.path().join("m.yaml");
    std::fs::write(d.path().join("t.txt"), "a.json\n").unwrap();
    let text = "execution_id: x\ntasks:\n- msisdn: a.json\n  payload: !file p.json\n";
    std::fs::write(&p, text).unwrap();
    let m = Manifest::load_with_tasks(&p, Some(&d.path().join("t.txt"))).unwrap();
    assert_eq!(all(&m)[0].payload, None);
    let m = Manifest::load(&p).unwrap();
    assert_eq!(all(&m)[0].payload, Some(serde_json::json!({})));
}

/// A resume walks only the pending tasks: `iter_where` gives those, inline or from a file.
#[test]
fn only_the_wanted_tasks_are_walked() {
    let d = dir_with(&["a.json", "b.json", "c.json"]);
    let p = d.path().join("m.yaml");
    std::fs::write(d.path().join("t.txt"), "a.json\nb.json\nc.json\n").unwrap();
    let inline = "execution_id: x\ntasks:\n- msisdn: a.json\n- msisdn: b.json\n- msisdn: c.json\n";
    for m in [
        Manifest::parse(&p, "execution_id: x\ntasks_file: t.txt\n").unwrap(),
        Manifest::parse(&p, inline).unwrap(),
    ] {
        let odd = |i: usize| i % 2 == 1;
        let got: Vec<(usize, String, Source)> = m
            .tasks
            .iter_where(&odd)
            .unwrap()
            .map(|t| {
                let (i, t) = t.unwrap();
                (i, t.id.clone(), t.source.clone())
            })
            .collect();
        assert_eq!(
            got,
            [(1, "b.json".into(), Source::File(d.path().join("b.json")))]
        );
    }
}

/// A key given twice is named with both lines, never the YAML library's "set DuplicateKeyPolicy
/// in Options"; a key repeated in two tasks is not a repeat.
#[test]
fn a_repeated_key_is_named_with_its_first_line() {
    let d = dir_with(&["a.json", "b.json"]);
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\nfail_on: error\nfail_on: warning\ntasks:\n- msisdn: a.json\n  msisdn: b.json\n- msisdn: b.json\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("m.yaml:3:1: `fail_on` is given twice (first at line 2); keep one"),
        "{err}"
    );
    assert!(
        err.contains("m.yaml:6:3: `msisdn` is given twice in one task (first at line 5)"),
        "{err}"
    );
    assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
}

/// A folder as a task's source is named as a folder, with the fix, not as missing.
#[test]
fn a_folder_as_a_task_source_is_named_as_one() {
    let d = dir_with(&["a.json"]);
    std::fs::create_dir(d.path().join("records")).unwrap();
    let err = Manifest::parse(
        &d.path().join("m.yaml"),
        "execution_id: x\ntasks:\n- msisdn: k1\n  source: records\n",
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("m.yaml:4:") && err.contains("task source records is a folder"),
        "{err}"
    );
    assert!(!err.contains("exists neither"), "{err}");
}
